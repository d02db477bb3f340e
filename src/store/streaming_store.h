#pragma once
// The tiered weight store. Resident layers live in device memory for the whole run; the
// others live in host RAM (pinned) or on disk and travel into a ring of prefetch+1 device
// slots just in time:
//
//   disk --(I/O thread: FileReader, direct I/O)--> slot            (CPU: device memory is RAM)
//   disk --(I/O thread)--> pinned staging --(copy engine)--> slot  (devices with own memory)
//   host tier (pinned) ----------------(copy engine)--------> slot
//
// While the executor computes layer i, layers i+1 .. i+K load. acquire() blocks only when
// the next layer is not ready yet, and that wait is measured as stall time.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/device.h"
#include "model/model_source.h"
#include "store/expert_cache.h"
#include "store/file_reader.h"
#include "store/layer_layout.h"
#include "store/layer_pack.h"
#include "store/placement.h"
#include "store/row_stream.h"
#include "store/weight_store.h"

namespace strata {

// Owns every weight byte on every tier, the slots, the I/O thread and the copy-completion
// thread. acquire()/release() are called by the executor thread only; the worker threads
// touch slots under mu_. Not copyable. The model and the device must outlive it.
class StreamingStore final : public WeightStore {
 public:
  // `runtime_bytes`: KV cache and scratch, counted against --ram-budget.
  [[nodiscard]] static Result<std::unique_ptr<StreamingStore>> create(
      const ModelSource& model, const PlacementOptions& opts, Device& device,
      uint64_t runtime_bytes, std::unique_ptr<FileReader> reader = nullptr);
  ~StreamingStore() override;
  // The plan create() would make, without allocating or reading anything (the layer layouts
  // of the model file or pack only), so a caller can try several settings against a budget.
  [[nodiscard]] static Result<PlacementPlan> plan_only(const ModelSource& model,
                                                       const PlacementOptions& opts, Device& device,
                                                       uint64_t runtime_bytes);

  Result<const LayerWeights*> acquire(int64_t layer) override;
  void release(int64_t layer) override;
  const GlobalWeights& globals() const override { return globals_; }
  RowStream* head() override { return head_stream_.get(); }
  Status embedding_rows(std::span<const int32_t> ids, float* out) override;
  ExpertSource* experts(int64_t layer) override {
    return expert_cache_ && plan_.streams_experts(layer) ? expert_cache_.get() : nullptr;
  }

  const PlacementPlan& plan() const { return plan_; }
  std::string io_description() const;  // reader engine, pack or model file, verify
  // Loads acquired since the last call, in acquire order, then the expert loads finished
  // since the last call.
  std::vector<LayerLoad> take_loads();
  // The expert cache's counters since the last call (zero when experts do not stream).
  ExpertCacheStats take_expert_stats();

 private:
  enum class SlotState { kFree, kLoading, kCopying, kReady, kInUse, kFailed };
  struct Slot {
    char* device_mem = nullptr;
    char* staging = nullptr;  // pinned; only for disk loads into non-host device memory
    int64_t layer = -1;
    SlotState state = SlotState::kFree;
    Status error;
    std::shared_ptr<DeviceEvent> event;
    std::shared_ptr<DeviceEvent> compute_done;  // the last compute that read this slot
    LayerWeights views;
    LayerLoad load;
  };

  StreamingStore(const ModelSource& model, Device& device) : model_(model), device_(device) {}
  Status init(const PlacementOptions& opts, uint64_t runtime_bytes,
              std::unique_ptr<FileReader> reader);
  Status choose_source(const PlacementOptions& opts);
  // Reads a layer (or the globals) from disk into host-visible memory at `host` and
  // finalizes it; verifies the pack checksum when asked.
  Status read_layout(const LayerLayout& layout, int64_t layer, char* host);
  // Device memory for a whole layout (start-up); its bytes come from read_layout where the
  // host can write device memory, else from upload_resident (a pinned staging copy).
  Result<char*> alloc_resident(const LayerLayout& layout, int64_t layer);
  Status upload_resident(const LayerLayout& layout, int64_t layer, char* dev);
  void schedule_locked(int64_t layer, int slot);
  void pump_locked();
  int find_slot_locked(int64_t layer) const;
  void io_loop();
  void completion_loop();

  const ModelSource& model_;
  Device& device_;
  PlacementPlan plan_;
  std::unique_ptr<FileReader> reader_;
  std::optional<LayerPack> pack_;
  bool verify_ = false;
  const TensorIndex* index_ = nullptr;      // model's or pack's
  std::vector<LayerLayout> layouts_;        // [n_layer]
  std::vector<LayerLayout> dense_layouts_;  // [n_layer] MoE layers without their experts
  LayerLayout globals_layout_;
  std::vector<char*> device_allocs_;  // to free
  std::vector<char*> pinned_allocs_;
  GlobalWeights globals_;
  std::vector<LayerWeights> resident_views_;    // [n_layer], resident layers only
  std::vector<char*> host_tier_;                // [n_layer], pinned copies of host-tier layers
  std::unique_ptr<ExpertCache> expert_cache_;   // when streamed layers stream their experts
  std::unique_ptr<DiskRowStream> head_stream_;  // when the output head streams
  std::unique_ptr<DiskRows> embd_rows_;         // when the embedding stays on disk

  std::vector<int64_t> streamed_;    // streamed layers, ascending
  std::vector<int64_t> stream_pos_;  // [n_layer] index into streamed_ or -1
  size_t next_ = 0;                  // next streamed_ index to prefetch

  std::mutex mu_;
  std::condition_variable cv_;  // slot state changes
  std::condition_variable io_cv_, done_cv_;
  std::deque<int> io_queue_;    // slots to load, FIFO
  std::deque<int> copy_queue_;  // slots whose copy is in flight
  std::vector<Slot> slots_;
  std::vector<LayerLoad> loads_;
  bool stop_ = false;
  std::thread io_thread_, completion_thread_;
};

}  // namespace strata
