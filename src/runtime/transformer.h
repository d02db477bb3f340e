#pragma once
// The layer executor: runs the decoder stack over a batch of tokens with a KV cache.
// Walks layers in order: lease = store.acquire(l) -> compute -> store.release(l).

#include <cstdint>
#include <span>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "core/status.h"
#include "model/config.h"
#include "store/weight_store.h"

namespace strata {

// Per-call timing, for the stats line and the benchmark.
struct ForwardTimings {
  std::vector<double> layer_compute_s;  // [n_layer]
  std::vector<double> layer_acquire_s;  // [n_layer] time spent waiting in acquire()
};

// Owns the KV cache and scratch buffers; borrows the store and the thread pool, which must
// outlive it. Not thread-safe: one sequence, driven by one thread.
class Transformer {
 public:
  // `n_ctx`: KV cache positions; `max_batch`: most tokens per forward() call.
  Transformer(const ModelConfig& config, WeightStore& store, ThreadPool& pool, int64_t n_ctx,
              int64_t max_batch = 512);

  const ModelConfig& config() const { return c_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t max_batch() const { return max_batch_; }

  // Runs tokens at positions pos .. pos+n-1 (positions < pos must be in the cache).
  // `logits`: [n_vocab] for the last token, or [n, n_vocab] when `all_logits`.
  Status forward(std::span<const int32_t> tokens, int64_t pos, float* logits, bool all_logits,
                 ForwardTimings* timings = nullptr);

 private:
  void attention(int64_t n_tok, int64_t pos, int64_t layer);
  void rope(float* vec, int64_t n_heads, int64_t position) const;

  ModelConfig c_;
  WeightStore& store_;
  ThreadPool& pool_;
  int64_t n_ctx_, max_batch_;
  std::vector<float> rope_inv_freq_;  // [head_dim/2]
  // KV cache: [n_layer][n_ctx][kv_dim]. Anonymous mappings, so pages become resident only as
  // positions are written: RSS grows with the tokens actually used, not with -c.
  struct LazyFloats {
    float* p = nullptr;
    size_t bytes = 0;
    LazyFloats() = default;
    LazyFloats(const LazyFloats&) = delete;
    LazyFloats& operator=(const LazyFloats&) = delete;
    ~LazyFloats();
    void allocate(size_t n_floats);
    float* data() const { return p; }
  };
  LazyFloats k_cache_, v_cache_;
  // Scratch, sized for max_batch tokens.
  std::vector<float> x_, xb_, q_, k_, v_, att_out_, hb_, hb2_;
  std::vector<float> att_scores_;  // [n_threads][n_ctx]
};

}  // namespace strata
