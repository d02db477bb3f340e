#pragma once
// The mixture-of-experts feed-forward block (Mixtral, Qwen3-MoE): a router scores every
// expert for each token, the k best run as SwiGLU FFNs and their outputs are summed with
// the router's weights.

#include <cstdint>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/thread_pool.h"
#include "core/status.h"
#include "model/config.h"
#include "store/weight_store.h"

namespace strata {

// Expert `expert` of a layer whose experts are in its LayerWeights.
ExpertWeights expert_weights(const ModelConfig& c, const LayerWeights& layer, int64_t expert);

// Routes one token: from its router logits [n_expert] picks c.n_expert_used experts, best
// first (ties to the lower index), into `ids`, with their weights in `weights`, as
// c.moe_routing defines them. `logits` is overwritten (kSoftmaxTopk: with probabilities).
void route_token(const ModelConfig& c, float* logits, int32_t* ids, float* weights);

// Owns the block's scratch, sized for `max_batch` tokens; borrows nothing. Not thread-safe:
// one caller at a time, the pool does the parallel work.
class MoeFfn {
 public:
  MoeFfn(const ModelConfig& c, int64_t max_batch);

  // out [n, n_embd] = for each token of x [n, n_embd] (the normed residual), the sum over
  // its experts of weight * down(silu(gate x) * up x); out may be x. Tokens are grouped by expert,
  // so an expert's weights are read once per call and its matmuls run over its tokens together. The
  // router runs token by token and every output row is made by the same arithmetic in any batch, so
  // with quantized experts a token gets the same bits whatever else is in the batch; float experts
  // agree to rounding (kernels.h).
  //
  // `source`: where the experts come from when the layer's experts stream (the store's
  // experts(layer)), else nullptr and they are in `layer`. Streamed experts are asked for
  // once routing has chosen them, and the experts the next layer chose last time are
  // prefetched. The same arithmetic on the same bytes: the same result either way.
  Status forward(ThreadPool& pool, const LayerWeights& layer, ExpertSource* source,
                 int64_t layer_index, const float* x, int64_t n, float* out);

  // The experts the last forward() chose: [n, n_expert_used] ids, best first.
  const std::vector<int32_t>& last_ids() const { return ids_; }

 private:
  // Runs expert e over its tokens (ys_ rows begin_[e] ..).
  void run_expert(ThreadPool& pool, const ExpertWeights& w, int64_t e, const float* x);

  ModelConfig c_;
  // Prefetches the next layer's likely experts (forward(), when the source prefetches).
  void guess_next(ThreadPool& pool, const WeightView& router, ExpertSource* source,
                  int64_t layer_index, const float* x, int64_t n);
  std::vector<std::vector<int32_t>> recent_;  // [n_layer] experts each layer chose last time
  // [n_layer] the routers of layers whose experts stream (resident: their dense part stays),
  // seen on an earlier pass; a layer's router applied to the layer before's input guesses
  // its experts before its own input exists.
  std::vector<WeightView> routers_;
  std::vector<std::vector<int32_t>> pregate_;  // [n_layer] the router guess made for each layer
  std::vector<int32_t> guess_ids_;             // [max_batch * k]
  std::vector<float> guess_w_;                 // [max_batch * k]
  std::vector<char> guessed_;                  // [n_expert]
  // How well each guess matched the experts chosen (Jaccard index, moving average): the
  // better one is prefetched.
  double score_recent_ = 0.5, score_pregate_ = 0.5;
  std::vector<int32_t> chosen_, order_;  // this layer's experts, and the order to take them
  std::vector<float> logits_;            // [max_batch, n_expert]
  std::vector<int32_t> ids_;             // [n, k] chosen experts
  std::vector<float> weights_;           // [n, k] their weights
  std::vector<int64_t> begin_;           // [n_expert + 1] start of each expert's group in slots_
  std::vector<int64_t> fill_;            // [n_expert] grouping cursor
  std::vector<int64_t> slots_;    // [n * k] token * k + j, grouped by expert, tokens ascending
  std::vector<int64_t> row_of_;   // [n * k] row of Y holding slot token * k + j
  std::vector<float> xs_;         // [max_batch, n_embd] one expert's tokens, gathered
  std::vector<float> gate_, up_;  // [max_batch, n_ff_exp]
  std::vector<float> ys_;         // [max_batch * k, n_embd] every expert's outputs
};

}  // namespace strata
