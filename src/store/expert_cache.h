#pragma once
// The expert cache: the experts of mixture-of-experts layers, streamed from disk one expert
// at a time once routing has chosen them. A token uses k of E experts per layer, so only
// those k experts' bytes move, and experts used again (by the next token, or by another
// sequence in the batch) are found in the cache.
//
//   router picks experts -> want(): hits stay, misses queue for the I/O thread
//   I/O thread: evicts the least recently used expert nobody needs now, reads the missed
//               expert's three row ranges (gate, up, down) with direct I/O into its slot
//   executor:   get() each expert (cached ones first), compute, put()
//
// Slots hold one expert each. An expert's bytes land in its slot exactly as they are in
// the file, so its views compute the same bits as the whole layer's would.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/device.h"
#include "format/tensor_index.h"
#include "model/config.h"
#include "store/file_reader.h"
#include "store/weight_store.h"

namespace strata {

struct ExpertCacheStats {
  int64_t lookups = 0;        // experts wanted
  int64_t hits = 0;           // of those, in the cache from an earlier use (no read for this one)
  int64_t prefetched = 0;     // loads prefetch() started
  int64_t prefetch_used = 0;  // of those, wanted before they were evicted (read, on a guess)
  double stall_s = 0;         // time get() waited for a load
  ExpertCacheStats& operator+=(const ExpertCacheStats& o);
};

class ExpertCache final : public ExpertSource {
 public:
  // Bytes one expert of `layer` needs in a slot: its three row ranges, each widened to
  // direct-I/O alignment. Errors if the layer's expert tensors are missing from `index`.
  [[nodiscard]] static Result<uint64_t> expert_slot_bytes(const ModelConfig& c,
                                                          const TensorIndex& index, int64_t layer);

  // `layers[l]`: whether layer l's experts stream through the cache. `n_slots` experts of
  // `slot_bytes` each (>= expert_slot_bytes of every such layer), allocated on `device`.
  // `reader` reads `index`'s files; it and the device must outlive the cache.
  [[nodiscard]] static Result<std::unique_ptr<ExpertCache>> create(
      const ModelConfig& c, const TensorIndex& index, const std::vector<bool>& layers,
      int64_t n_slots, uint64_t slot_bytes, FileReader& reader, Device& device);
  ~ExpertCache() override;

  void want(int64_t layer, std::span<const int32_t> experts, std::vector<int32_t>* order) override;
  void prefetch(int64_t layer, std::span<const int32_t> experts) override;
  bool prefetches() const override { return prefetch_on_; }
  // false: prefetch() does nothing (only chosen experts are read).
  void set_prefetch(bool on) { prefetch_on_ = on; }
  Result<ExpertWeights> get(int64_t layer, int32_t expert) override;
  void put(int64_t layer, int32_t expert) override;
  void finish(int64_t layer) override;

  int64_t n_slots() const { return static_cast<int64_t>(slots_.size()); }
  uint64_t slot_bytes() const { return slot_bytes_; }
  // Loads finished since the last call (LayerLoad::expert >= 0), and the counters.
  std::vector<LayerLoad> take_loads();
  ExpertCacheStats take_stats();

 private:
  enum class State { kFree, kLoading, kReady, kFailed };
  struct Slot {
    char* mem = nullptr;
    int64_t key = -1;  // layer * n_expert + expert; -1 when free
    State state = State::kFree;
    bool wanted = false;  // wanted by the current layer and not yet taken
    bool pinned = false;  // taken by get(), not yet put()
    bool from_prefetch = false, used = false;
    uint64_t stamp = 0;  // last use, for LRU
    Status error;
    ExpertWeights views;
    LayerLoad load;
  };

  ExpertCache(const ModelConfig& c, FileReader& reader, Device& device)
      : c_(c), reader_(reader), device_(device) {}
  int victim_locked() const;
  void evict_locked(int slot);
  void io_loop();
  Status load(std::vector<int>& batch, char* staging);
  int64_t key(int64_t layer, int32_t expert) const { return layer * c_.n_expert + expert; }

  ModelConfig c_;
  FileReader& reader_;
  Device& device_;
  // Per layer: the stacked tensors (gate, up, down) or, split, 3 per expert.
  std::vector<std::vector<const TensorInfo*>> tensors_;
  uint64_t slot_bytes_ = 0;
  char* device_mem_ = nullptr;
  char* staging_ = nullptr;  // pinned; for devices that do not share host memory

  std::mutex mu_;
  std::condition_variable cv_;     // a load finished
  std::condition_variable io_cv_;  // work or room for it
  std::vector<Slot> slots_;
  std::unordered_map<int64_t, int> where_;  // key -> slot
  std::deque<int64_t> demand_, hints_;      // keys waiting for a slot
  uint64_t clock_ = 0;
  bool prefetch_on_ = true;
  double prefetch_accuracy_ = 1.0;  // running share of prefetched experts that were used
  uint64_t prefetch_calls_ = 0;
  ExpertCacheStats stats_;
  std::vector<LayerLoad> loads_;
  bool stop_ = false;
  std::thread io_thread_;
};

}  // namespace strata
