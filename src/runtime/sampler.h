#pragma once
// Token sampling: greedy, or repetition penalty -> top-k -> top-p -> min-p -> temperature ->
// draw (llama.cpp's default order). Reproducible for a given seed.

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "strata/options.h"

namespace strata {

// Not thread-safe; one per sequence.
class Sampler {
 public:
  explicit Sampler(const SamplerOptions& opts);
  // Picks the next token from `logits` [n_vocab]; `logits` may be modified.
  int32_t sample(float* logits, int64_t n_vocab);
  // Records a token (prompt or generated) for the repetition penalty.
  void accept(int32_t token);

 private:
  SamplerOptions opts_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace strata
