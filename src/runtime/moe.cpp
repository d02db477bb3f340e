#include "runtime/moe.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace strata {

namespace {

// Rows [first, first + rows) of `w`, as a matrix of their own.
WeightView row_slice(const WeightView& w, int64_t first, int64_t rows) {
  WeightView v = w;
  v.data = w.row(first);
  v.rows = rows;
  return v;
}

// The k largest of scores[0..n) into ids/vals, largest first. Strict comparisons keep the
// lower index ahead on ties, and a NaN never displaces a number.
void top_k(const float* scores, int64_t n, int64_t k, int32_t* ids, float* vals) {
  int64_t filled = 0;
  for (int64_t e = 0; e < n; ++e) {
    const float v = scores[e];
    if (filled == k && !(v > vals[k - 1])) continue;
    int64_t i = filled < k ? filled++ : k - 1;
    for (; i > 0 && v > vals[i - 1]; --i) {
      vals[i] = vals[i - 1];
      ids[i] = ids[i - 1];
    }
    vals[i] = v;
    ids[i] = static_cast<int32_t>(e);
  }
}

}  // namespace

ExpertWeights expert_weights(const ModelConfig& c, const LayerWeights& layer, int64_t e) {
  STRATA_CHECK(e >= 0 && e < c.n_expert, "expert {} of {}", e, c.n_expert);
  if (c.experts_split) {
    const auto& s = layer.split_experts;
    auto at = [&](ExpertProj p) { return s[expert_spec_index(e, p) - kLayerTensorCount]; };
    return {at(ExpertProj::kGate), at(ExpertProj::kUp), at(ExpertProj::kDown)};
  }
  return {row_slice(layer[LayerTensor::kGateExps], e * c.n_ff_exp, c.n_ff_exp),
          row_slice(layer[LayerTensor::kUpExps], e * c.n_ff_exp, c.n_ff_exp),
          row_slice(layer[LayerTensor::kDownExps], e * c.n_embd, c.n_embd)};
}

void route_token(const ModelConfig& c, float* logits, int32_t* ids, float* weights) {
  const int64_t E = c.n_expert, k = c.n_expert_used;
  if (c.moe_routing == MoeRouting::kTopkSoftmax) {
    // Mixtral: the k best logits, then a softmax over those k alone.
    top_k(logits, E, k, ids, weights);
    softmax(weights, k);
    return;
  }
  // Qwen3-MoE: a softmax over every expert, the k most probable, optionally renormalized.
  softmax(logits, E);
  top_k(logits, E, k, ids, weights);
  if (!c.moe_norm_topk) return;
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) sum += weights[j];
  for (int64_t j = 0; j < k; ++j) weights[j] /= sum;
}

MoeFfn::MoeFfn(const ModelConfig& c, int64_t max_batch) : c_(c) {
  const int64_t k = c.n_expert_used;
  logits_.resize(static_cast<size_t>(max_batch * c.n_expert));
  ids_.reserve(static_cast<size_t>(max_batch * k));
  weights_.resize(static_cast<size_t>(max_batch * k));
  begin_.resize(static_cast<size_t>(c.n_expert + 1));
  slots_.resize(static_cast<size_t>(max_batch * k));
  row_of_.resize(static_cast<size_t>(max_batch * k));
  xs_.resize(static_cast<size_t>(max_batch * c.n_embd));
  gate_.resize(static_cast<size_t>(max_batch * c.n_ff_exp));
  up_.resize(static_cast<size_t>(max_batch * c.n_ff_exp));
  ys_.resize(static_cast<size_t>(max_batch * k * c.n_embd));
}

void MoeFfn::run_expert(ThreadPool& pool, const ExpertWeights& w, int64_t e, const float* x) {
  const int64_t d = c_.n_embd, k = c_.n_expert_used, f = c_.n_ff_exp;
  const int64_t r0 = begin_[e], m = begin_[e + 1] - r0;
  for (int64_t i = 0; i < m; ++i) {
    const int64_t t = slots_[r0 + i] / k;
    std::copy(x + t * d, x + (t + 1) * d, xs_.data() + i * d);
  }
  {
    MatmulInput in(xs_.data(), m, d);  // quantized once for gate and up, one parallel loop
    const MatmulPart parts[] = {{&w.gate, gate_.data()}, {&w.up, up_.data()}};
    matmul(pool, parts, in);
  }
  for (int64_t i = 0; i < m * f; ++i) {
    float v = gate_[i];
    v *= 1.0f / (1.0f + expf(-v));
    gate_[i] = v * up_[i];
  }
  matmul(pool, w.down, gate_.data(), m, ys_.data() + r0 * d);
}

// `x`: this layer's input, `n` tokens; chosen_: the experts routing picked for it.
void MoeFfn::guess_next(ThreadPool& pool, const WeightView& router, ExpertSource* source,
                        int64_t layer_index, const float* x, int64_t n) {
  const int64_t d = c_.n_embd, E = c_.n_expert, k = c_.n_expert_used;
  // While this layer's experts compute, the next layer's experts load on a guess: its
  // last choice (tokens in a row route alike), or its own router applied to this layer's
  // input (the residual stream changes little from one layer to the next; the routers of
  // layers whose experts stream are resident), whichever has matched the real choices
  // better so far. The last layer guesses the next token's first from its last choice.
  if (recent_.empty()) {
    recent_.resize(static_cast<size_t>(c_.n_layer));
    routers_.resize(static_cast<size_t>(c_.n_layer));
    pregate_.resize(static_cast<size_t>(c_.n_layer));
  }
  auto jaccard = [&](const std::vector<int32_t>& guess) {
    int64_t both = 0;  // chosen_ and guess are sorted
    for (size_t i = 0, j = 0; i < chosen_.size() && j < guess.size();) {
      if (chosen_[i] == guess[j]) {
        ++both, ++i, ++j;
      } else if (chosen_[i] < guess[j]) {
        ++i;
      } else {
        ++j;
      }
    }
    const int64_t any = static_cast<int64_t>(chosen_.size() + guess.size()) - both;
    return any > 0 ? static_cast<double>(both) / static_cast<double>(any) : 1.0;
  };
  constexpr double kScoreWeight = 0.05;
  if (!pregate_[layer_index].empty() && !recent_[layer_index].empty()) {
    score_recent_ += kScoreWeight * (jaccard(recent_[layer_index]) - score_recent_);
    score_pregate_ += kScoreWeight * (jaccard(pregate_[layer_index]) - score_pregate_);
  }
  routers_[layer_index] = router;
  recent_[layer_index] = chosen_;
  const int64_t next = (layer_index + 1) % c_.n_layer;
  pregate_[next].clear();
  if (routers_[next].data != nullptr && next > layer_index) {
    guess_ids_.resize(static_cast<size_t>(n * k));
    guess_w_.resize(static_cast<size_t>(n * k));
    guessed_.assign(static_cast<size_t>(E), 0);
    for (int64_t t = 0; t < n; ++t) {
      float* lg = logits_.data() + t * E;  // free again: this layer's routing is done
      matmul(pool, routers_[next], x + t * d, 1, lg);
      route_token(c_, lg, guess_ids_.data() + t * k, guess_w_.data() + t * k);
      for (int64_t j = 0; j < k; ++j) guessed_[guess_ids_[t * k + j]] = 1;
    }
    for (int64_t e = 0; e < E; ++e)
      if (guessed_[e]) pregate_[next].push_back(static_cast<int32_t>(e));
  }
  const bool use_pregate =
      !pregate_[next].empty() && (recent_[next].empty() || score_pregate_ > score_recent_);
  if (use_pregate) {
    source->prefetch(next, pregate_[next]);
  } else if (!recent_[next].empty()) {
    source->prefetch(next, recent_[next]);
  }
}

Status MoeFfn::forward(ThreadPool& pool, const LayerWeights& layer, ExpertSource* source,
                       int64_t layer_index, const float* x, int64_t n, float* out) {
  const int64_t d = c_.n_embd, E = c_.n_expert, k = c_.n_expert_used;
  STRATA_CHECK(n * k <= static_cast<int64_t>(slots_.size()), "{} tokens exceed the MoE scratch", n);
  // Router, one token at a time: a lone token's float matmul sums in its own order, so the
  // choice of experts never depends on the batch.
  const WeightView& router = layer[LayerTensor::kRouter];
  ids_.resize(static_cast<size_t>(n * k));
  for (int64_t t = 0; t < n; ++t) {
    float* lg = logits_.data() + t * E;
    matmul(pool, router, x + t * d, 1, lg);
    route_token(c_, lg, ids_.data() + t * k, weights_.data() + t * k);
  }
  // Group (token, choice) slots by expert, tokens ascending within each group.
  std::fill(begin_.begin(), begin_.end(), 0);
  for (int64_t s = 0; s < n * k; ++s) ++begin_[ids_[s] + 1];
  for (int64_t e = 0; e < E; ++e) begin_[e + 1] += begin_[e];
  fill_.assign(begin_.begin(), begin_.end() - 1);
  for (int64_t s = 0; s < n * k; ++s) slots_[fill_[ids_[s]]++] = s;
  for (int64_t r = 0; r < n * k; ++r) row_of_[slots_[r]] = r;
  chosen_.clear();
  for (int64_t e = 0; e < E; ++e)
    if (begin_[e + 1] > begin_[e]) chosen_.push_back(static_cast<int32_t>(e));
  // Each chosen expert over its tokens; its outputs land in ys_ rows begin_[e] .. Every
  // expert writes its own rows, so the order they run in does not change any bit.
  if (!source) {
    for (int32_t e : chosen_) run_expert(pool, expert_weights(c_, layer, e), e, x);
  } else {
    source->want(layer_index, chosen_, &order_);
    if (source->prefetches()) guess_next(pool, router, source, layer_index, x, n);
    Status st = Status::ok();
    for (int32_t e : order_) {
      Result<ExpertWeights> w = source->get(layer_index, e);
      if (!w) {
        st = w.status().with_context("layer " + std::to_string(layer_index) + ", expert " +
                                     std::to_string(e));
        break;
      }
      run_expert(pool, *w, e, x);
      source->put(layer_index, e);
    }
    source->finish(layer_index);
    STRATA_TRY(st);
  }
  // Weighted sum per token, over its experts in the router's order (best first): the same
  // order in any batch.
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out + t * d;
      std::fill(o, o + d, 0.0f);
      for (int64_t j = 0; j < k; ++j) {
        const float wt = weights_[t * k + j];
        const float* y = ys_.data() + row_of_[t * k + j] * d;
        for (int64_t i = 0; i < d; ++i) o[i] += wt * y[i];
      }
    }
  });
  return Status::ok();
}

}  // namespace strata
