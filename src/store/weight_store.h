#pragma once
// The weight store: owns every weight byte and hands the executor one layer at a time.
// The executor calls acquire(layer) -> compute -> release(layer); it never knows whether the
// layer was resident or streamed, which is what keeps results independent of placement.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
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

// One expert's matrices: a slice of a layer's stacked tensors, its own split tensors, or its
// bytes in an expert cache.
struct ExpertWeights {
  WeightView gate;  // [n_ff_exp, n_embd]
  WeightView up;    // [n_ff_exp, n_embd]
  WeightView down;  // [n_embd, n_ff_exp]
};

// The experts of mixture-of-experts layers whose experts stream on demand (the store's
// LayerWeights for such a layer have no expert views). Per layer, the executor calls
// want() once with the experts routing chose, then get()/put() for each of them in the
// order want() gave, then finish(). Called by the executor thread only.
class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Starts loading those of `experts` (distinct) that are not cached, and counts cache hits
  // and misses. `order` receives the same experts in the order to get() them: those in
  // memory (or loading) first, then the misses as they will load. Another order can wait
  // forever when the cache holds fewer experts than the layer needs.
  virtual void want(int64_t layer, std::span<const int32_t> experts,
                    std::vector<int32_t>* order) = 0;
  // Experts likely needed next (e.g. what the next layer chose for the previous token):
  // loaded only into room nothing wanted needs, behind every wanted load; dropped at the
  // next want() if not started.
  virtual void prefetch(int64_t layer, std::span<const int32_t> experts) = 0;
  // Whether prefetch() loads anything (false: callers need not work out guesses).
  virtual bool prefetches() const = 0;
  // Blocks until the expert is in compute memory; it stays there until put().
  virtual Result<ExpertWeights> get(int64_t layer, int32_t expert) = 0;
  virtual void put(int64_t layer, int32_t expert) = 0;
  // Ends the layer: anything wanted and not taken (after an error) is let go.
  virtual void finish(int64_t layer) = 0;
};

// A matrix that streams in chunks of rows (an output head that does not stay resident). The
// executor walks the chunks in order: acquire(i) -> compute -> release(i); the next chunk
// loads while one computes. Called by the executor thread only.
class RowStream {
 public:
  virtual ~RowStream() = default;
  virtual int64_t n_rows() const = 0;
  virtual int64_t chunk_rows() const = 0;  // the last chunk may have fewer
  int64_t n_chunks() const { return (n_rows() + chunk_rows() - 1) / chunk_rows(); }
  // Blocks until rows [chunk * chunk_rows(), ...) are in compute memory: a view of them,
  // valid until release(chunk). An I/O failure is an error.
  virtual Result<WeightView> acquire(int64_t chunk) = 0;
  virtual void release(int64_t chunk) = 0;
};

// Interface the executor sees. acquire()/release() are called by the executor thread only.
class WeightStore {
 public:
  virtual ~WeightStore() = default;
  // Blocks until the layer's weights are in compute memory. An I/O failure is an error.
  virtual Result<const LayerWeights*> acquire(int64_t layer) = 0;
  virtual void release(int64_t layer) = 0;
  virtual const GlobalWeights& globals() const = 0;
  // Where the experts of `layer` come from when they are not in its LayerWeights; nullptr
  // when they are (resident layers, whole-layer streaming, dense models).
  virtual ExpertSource* experts(int64_t /*layer*/) { return nullptr; }
  // The output head when it streams (globals() then has no view of it); nullptr when it is
  // resident (the output matrix, or the token embedding when tied).
  virtual RowStream* head() { return nullptr; }
  // Token embedding rows `ids` as floats into out [n, n_embd], when globals() has no view of
  // the embedding (it stays on disk). Only called then.
  virtual Status embedding_rows(std::span<const int32_t> /*ids*/, float* /*out*/) {
    return Status::error("the token embedding is not resident and this store cannot read it");
  }
};

// Every layer resident in RAM (the CPU backend's compute memory), read with the page cache:
// the simple store for tests and tools. The engine uses StreamingStore.
[[nodiscard]] Result<std::unique_ptr<WeightStore>> make_resident_store(const ModelSource& model);

}  // namespace strata
