#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace strata {

Sampler::Sampler(const SamplerOptions& opts) : opts_(opts), rng_(opts.seed) {}

void Sampler::accept(int32_t token) {
  if (opts_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  while (static_cast<int32_t>(recent_.size()) > opts_.repeat_last_n) recent_.pop_front();
}

int32_t Sampler::sample(float* logits, int64_t n_vocab) {
  if (opts_.repeat_penalty != 1.0f && !recent_.empty()) {
    std::unordered_set<int32_t> seen(recent_.begin(), recent_.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= n_vocab) continue;
      logits[t] = logits[t] > 0 ? logits[t] / opts_.repeat_penalty : logits[t] * opts_.repeat_penalty;
    }
  }
  if (opts_.temperature <= 0.0f) {
    // Greedy; ties go to the lowest id, like run.c's argmax.
    int64_t best = 0;
    for (int64_t i = 1; i < n_vocab; ++i) {
      if (logits[i] > logits[best]) best = i;
    }
    return static_cast<int32_t>(best);
  }
  cand_.resize(n_vocab);
  for (int64_t i = 0; i < n_vocab; ++i) cand_[i] = {logits[i], static_cast<int32_t>(i)};
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t n = cand_.size();
  if (opts_.top_k > 0 && static_cast<size_t>(opts_.top_k) < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + opts_.top_k, cand_.end(), by_logit);
    n = opts_.top_k;
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Probabilities at temperature 1 for the top-p / min-p cut-offs.
  std::vector<double> p(n);
  double max_l = cand_[0].first, sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(static_cast<double>(cand_[i].first) - max_l);
  for (size_t i = 0; i < n; ++i) p[i] /= sum;
  if (opts_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += p[i];
      if (cum >= opts_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (opts_.min_p > 0.0f) {
    const double cut = opts_.min_p * p[0];
    size_t keep = 1;
    while (keep < n && p[keep] >= cut) ++keep;
    n = keep;
  }
  // Temperature, then draw.
  std::vector<double> w(n);
  double wsum = 0;
  for (size_t i = 0; i < n; ++i) {
    wsum += w[i] = std::exp((static_cast<double>(cand_[i].first) - max_l) / opts_.temperature);
  }
  std::uniform_real_distribution<double> uni(0.0, wsum);
  double r = uni(rng_), acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += w[i];
    if (r < acc) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

}  // namespace strata
