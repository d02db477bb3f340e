#pragma once
// Token sampling: greedy, or repetition penalty -> top-k -> top-p -> min-p -> temperature ->
// draw (llama.cpp's default order). Reproducible for a given seed.

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace strata {

struct SamplerOptions {
  float temperature = 0.8f;   // 0 = greedy (argmax)
  int32_t top_k = 40;         // 0 = off
  float top_p = 0.95f;        // 1 = off
  float min_p = 0.05f;        // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off; divides positive logits, multiplies negative
  int32_t repeat_last_n = 64;   // how many recent tokens the penalty looks at
  uint64_t seed = 0;
};

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
