#pragma once
// Which tensors each architecture needs, with their names (GGUF convention) and shapes.

#include <array>
#include <string>
#include <vector>

#include "core/status.h"
#include "format/tensor_index.h"
#include "model/config.h"

namespace strata {

// Per-layer weights, in the order a layer uses them.
enum class LayerTensor : int {
  kAttnNorm, kWq, kWk, kWv, kBq, kBk, kBv, kQNorm, kKNorm, kWo,
  kFfnNorm, kGate, kUp, kDown, kCount
};
constexpr int kLayerTensorCount = static_cast<int>(LayerTensor::kCount);

enum class GlobalTensor : int { kTokEmbd, kOutputNorm, kOutput, kRopeFreqs, kCount };
constexpr int kGlobalTensorCount = static_cast<int>(GlobalTensor::kCount);

struct TensorSpec {
  std::string name;             // empty: this architecture has no such tensor
  std::vector<int64_t> shape;   // row-major, [n_out, n_in] for weights
  bool required = true;
};

std::array<TensorSpec, kLayerTensorCount> layer_tensor_specs(const ModelConfig& c, int64_t layer);
std::array<TensorSpec, kGlobalTensorCount> global_tensor_specs(const ModelConfig& c);

// Checks every needed tensor is in `index` with the expected shape and a dtype strata
// computes with. Errors name `source` and the tensor ("missing tensor 'blk.3.ffn_up.weight'").
[[nodiscard]] Status validate_tensors(const ModelConfig& c, const TensorIndex& index,
                                      const std::string& source);

}  // namespace strata
