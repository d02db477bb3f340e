#pragma once
// The weight store: owns every weight byte and hands the executor one layer at a time.
// The executor calls acquire(layer) -> compute -> release(layer); it never knows whether the
// layer was resident or streamed, which is what keeps results independent of placement.

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/file.h"
#include "core/status.h"
#include "model/model_source.h"
#include "model/tensor_spec.h"

namespace strata {

// One layer's weights as views. 1-D tensors (norms, biases) are always F32, converted at
// load; matrices keep their stored dtype. Missing optional tensors are empty views.
struct LayerWeights {
  std::array<WeightView, kLayerTensorCount> t;
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

// Aligned heap memory for weights; frees on destruction. Movable.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(uint64_t nbytes);
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  ~AlignedBuffer();
  char* data() const { return p_; }
  uint64_t size_bytes() const { return n_; }

 private:
  char* p_ = nullptr;
  uint64_t n_ = 0;
};

// Reads tensors of a model into memory in the layout the executor uses: one buffer per
// layer, each tensor 64-byte aligned in it. Used by every store. Thread-compatible.
class TensorLoader {
 public:
  static Result<TensorLoader> open(const ModelSource& model);
  // Bytes of the buffer that load_layer needs.
  uint64_t layer_bytes(int64_t layer) const;
  uint64_t globals_bytes() const;
  // Fills `buf` (layer_bytes(layer) long) and points `out` into it.
  Status load_layer(int64_t layer, char* buf, LayerWeights* out) const;
  Status load_globals(char* buf, GlobalWeights* out) const;

 private:
  struct Item {
    const TensorInfo* info = nullptr;  // nullptr: absent optional tensor
    uint64_t buf_offset = 0;
    uint64_t buf_bytes = 0;
  };
  Status load_items(const std::vector<Item>& items, char* buf, WeightView* views) const;
  std::vector<Item> plan(const TensorSpec* specs, int n, uint64_t* total) const;

  const ModelSource* model_ = nullptr;
  std::vector<File> files_;
  std::vector<std::vector<Item>> layers_;  // [layer][LayerTensor]
  std::vector<uint64_t> layer_bytes_;
  std::vector<Item> globals_;
  uint64_t globals_bytes_ = 0;
};

// Every layer resident in RAM (the CPU backend's compute memory).
[[nodiscard]] Result<std::unique_ptr<WeightStore>> make_resident_store(const ModelSource& model);

}  // namespace strata
