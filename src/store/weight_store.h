#pragma once
// The weight store: owns every weight byte and hands the executor one layer at a time.
// The executor calls acquire(layer) -> compute -> release(layer); it never knows whether the
// layer was resident or streamed, which is what keeps results independent of placement.

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/status.h"
#include "model/model_source.h"
#include "model/tensor_spec.h"

namespace strata {

// One layer's weights as views. 1-D tensors (norms, biases) are always F32, converted at
// load; matrices keep their stored dtype. Missing optional tensors are empty views. Stacked
// expert tensors are one view of E * rows rows.
struct LayerWeights {
  std::array<WeightView, kLayerTensorCount> t;
  std::vector<WeightView> split_experts;  // [3 * n_expert] when experts_split (tensor_spec.h)
  const WeightView& operator[](LayerTensor k) const { return t[static_cast<int>(k)]; }
};
struct GlobalWeights {
  std::array<WeightView, kGlobalTensorCount> t;
  const WeightView& operator[](GlobalTensor k) const { return t[static_cast<int>(k)]; }
};

// Interface the executor sees. acquire()/release() are called by the executor thread only.
class WeightStore {
 public:
  virtual ~WeightStore() = default;
  // Blocks until the layer's weights are in compute memory. An I/O failure is an error.
  virtual Result<const LayerWeights*> acquire(int64_t layer) = 0;
  virtual void release(int64_t layer) = 0;
  virtual const GlobalWeights& globals() const = 0;
};

// Every layer resident in RAM (the CPU backend's compute memory), read with the page cache:
// the simple store for tests and tools. The engine uses StreamingStore.
[[nodiscard]] Result<std::unique_ptr<WeightStore>> make_resident_store(const ModelSource& model);

}  // namespace strata
