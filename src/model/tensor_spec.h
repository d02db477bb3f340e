#pragma once
// Which tensors each architecture needs, with their names (GGUF convention) and shapes.

#include <array>
#include <string>
#include <vector>

#include "core/status.h"
#include "format/tensor_index.h"
#include "model/config.h"

namespace strata {

// Per-layer weights, in the order a layer uses them. A mixture-of-experts layer has kRouter
// instead of kGate/kUp/kDown, and its experts either stacked (kGateExps [E, n_ff_exp, n_embd],
// kUpExps the same, kDownExps [E, n_embd, n_ff_exp]) or split, one tensor per expert, in the
// specs after kCount (expert_spec_index).
enum class LayerTensor : int {
  kAttnNorm,
  kWq,
  kWk,
  kWv,
  kBq,
  kBk,
  kBv,
  kQNorm,
  kKNorm,
  kWo,
  kFfnNorm,
  kGate,
  kUp,
  kDown,
  kRouter,
  kGateExps,
  kUpExps,
  kDownExps,
  kCount
};
constexpr int kLayerTensorCount = static_cast<int>(LayerTensor::kCount);

enum class GlobalTensor : int { kTokEmbd, kOutputNorm, kOutput, kRopeFreqs, kCount };
constexpr int kGlobalTensorCount = static_cast<int>(GlobalTensor::kCount);

struct TensorSpec {
  std::string name;            // empty: this architecture has no such tensor
  std::vector<int64_t> shape;  // row-major, [n_out, n_in] for weights
  bool required = true;
};

enum class ExpertProj : int { kGate, kUp, kDown };
// Where expert `e`'s `proj` sits among a split-expert layer's specs (after the fixed ones).
constexpr int expert_spec_index(int64_t e, ExpertProj proj) {
  return kLayerTensorCount + static_cast<int>(e) * 3 + static_cast<int>(proj);
}

// kLayerTensorCount fixed specs (LayerTensor order), then 3 per expert when c.experts_split.
std::vector<TensorSpec> layer_tensor_specs(const ModelConfig& c, int64_t layer);
std::array<TensorSpec, kGlobalTensorCount> global_tensor_specs(const ModelConfig& c);

// Checks every needed tensor is in `index` with the expected shape and a dtype strata
// computes with. Errors name `source` and the tensor ("missing tensor 'blk.3.ffn_up.weight'"),
// with its Hugging Face name too when `hf_names` (an index renamed from a checkpoint).
[[nodiscard]] Status validate_tensors(const ModelConfig& c, const TensorIndex& index,
                                      const std::string& source, bool hf_names = false);

}  // namespace strata
