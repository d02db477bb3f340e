#pragma once
// The layer executor: runs the decoder stack over a batch of tokens with a KV cache.
// Walks layers in order: lease = store.acquire(l) -> compute -> store.release(l).

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "core/status.h"
#include "model/config.h"
#include "runtime/kv_cache.h"
#include "runtime/moe.h"
#include "store/weight_store.h"

namespace strata {

// Per-call timing, for the stats line and the benchmark.
struct ForwardTimings {
  std::vector<double> layer_compute_s;  // [n_layer]
  std::vector<double> layer_acquire_s;  // [n_layer] time spent waiting in acquire()
};

// One sequence's part of a forward pass.
struct SeqInput {
  KvCache* kv = nullptr;            // the sequence's cache; positions < pos must be filled
  int64_t pos = 0;                  // position of tokens[0]
  std::span<const int32_t> tokens;  // at least one
  float* logits = nullptr;          // [n_vocab] for the last token, [n, n_vocab] when all_logits
  bool all_logits = false;
};

// Owns the scratch buffers (and a KV cache for the single-sequence forward()); borrows the
// store and the thread pool, which must outlive it. Not thread-safe: driven by one thread.
class Transformer {
 public:
  // `n_ctx`: most positions of a sequence; `max_batch`: most tokens per forward() call, all
  // sequences together.
  Transformer(const ModelConfig& config, WeightStore& store, ThreadPool& pool, int64_t n_ctx,
              int64_t max_batch = 512);

  const ModelConfig& config() const { return c_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t max_batch() const { return max_batch_; }

  // Runs tokens at positions pos .. pos+n-1 (positions < pos must be in the cache).
  // `logits`: [n_vocab] for the last token, or [n, n_vocab] when `all_logits`.
  // Uses the Transformer's own KV cache (one sequence).
  Status forward(std::span<const int32_t> tokens, int64_t pos, float* logits, bool all_logits,
                 ForwardTimings* timings = nullptr);

  // Several sequences in one pass: each layer is acquired once and its matmuls run over every
  // sequence's tokens together; attention reads each token's own cache. A token's results do
  // not depend on what else is in the batch (the kernels are batch-invariant), so batched
  // sequences get the same logits, bit for bit, as each run alone.
  Status forward(std::span<const SeqInput> seqs, ForwardTimings* timings = nullptr);

 private:
  void attention(int64_t n_tok, int64_t layer);
  void rope(float* vec, int64_t n_heads, int64_t position) const;
  // fn(t) for each token t of a batch of n, on the pool's threads when there are several: a
  // token's norms, rotations, residuals and activations do not depend on the other tokens,
  // so the split never changes a result, and a prompt no longer leaves a core idle for them.
  template <typename Fn>
  void for_tokens(int64_t n, Fn&& fn) {
    if (n == 1) {
      fn(int64_t{0});
      return;
    }
    pool_.parallel_for_dynamic(n, 1, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) fn(t);
    });
  }

  ModelConfig c_;
  WeightStore& store_;
  ThreadPool& pool_;
  int64_t n_ctx_, max_batch_;
  std::vector<float> rope_inv_freq_;  // [head_dim/2]
  std::unique_ptr<KvCache> own_kv_;   // for the single-sequence forward(), made on first use
  std::unique_ptr<MoeFfn> moe_;       // mixture-of-experts layers' FFN and its scratch
  // Per batch token: its position and its sequence's cache.
  std::vector<int64_t> tok_pos_;
  std::vector<KvCache*> tok_kv_;
  std::vector<float> multi_logits_;  // [rows, n_vocab] when several sequences want logits
  std::vector<int32_t> ids_;         // the batch's token ids
  std::vector<float> head_rows_;     // [rows, chunk] a streamed head chunk's logits
  // Scratch, sized for max_batch tokens.
  std::vector<float> x_, xb_, q_, k_, v_, att_out_, hb_, hb2_;
  std::vector<float> att_scores_;  // [n_threads][n_ctx]
  std::vector<float> kv_slice_;    // [n_threads][head_dim]
};

}  // namespace strata
