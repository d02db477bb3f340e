#pragma once
// Where each layer's weights live (device memory, host RAM or disk) and how many streaming
// slots there are. Options are declared once here and shared by run and bench.

#include <cstdint>
#include <string>
#include <vector>

#include "backend/device.h"
#include "core/status.h"
#include "store/file_reader.h"
#include "strata/options.h"

namespace strata {

// Memory the rest of the engine needs besides weights (KV cache, scratch), for budgets.
struct PlanInputs {
  std::vector<uint64_t> layer_bytes;  // bytes a layer occupies in compute memory
  uint64_t globals_bytes = 0;         // norms, RoPE factors: what is not listed below
  // The token embedding (the output head too when tied) and an untied output head (0 when
  // tied); 0 and 0 when they cannot stream (they are then in globals_bytes).
  uint64_t embd_bytes = 0, head_bytes = 0;
  uint64_t head_chunk_bytes = 0;  // a streamed head's chunk buffers, together
  uint64_t slot_bytes = 0;        // largest streamed layer layout
  uint64_t runtime_bytes = 0;     // KV cache + scratch, in host RAM
  bool device_shares_host = true;
  uint64_t device_capacity_bytes = 0;  // 0 = unlimited
  // Mixture-of-experts layers, whose experts can stream one by one: per layer, the bytes
  // of everything but its experts (0: not such a layer); empty for dense models.
  std::vector<uint64_t> dense_bytes;
  uint64_t expert_slot_bytes = 0;  // one expert in the expert cache
  int64_t n_expert = 0, n_expert_used = 0;
};

struct PlacementPlan {
  std::vector<Tier> layer_tier;  // [n_layer]
  Tier offload_tier = Tier::kDisk;
  int prefetch = 1;
  int n_slots = 0;  // prefetch + 1 when any layer streams, else 0
  uint64_t slot_bytes = 0;
  uint64_t device_bytes = 0;  // globals + resident layers + slots
  uint64_t host_bytes = 0;    // host-tier layers (+ staging when not shared)
  uint64_t disk_bytes = 0;    // disk-tier layers
  std::string auto_note;      // how "auto" decided, "" if nothing was automatic
  // Streamed MoE layers stream their experts through an expert cache (their other tensors
  // resident, counted in device_bytes like the cache), not as whole layers.
  bool experts_streamed = false;
  int64_t expert_slots = 0;  // experts the cache holds
  uint64_t expert_slot_bytes = 0;
  int64_t streamed_experts = 0;  // experts of the streamed layers, all together
  // The output head streams from disk in row chunks through head_chunk_bytes of buffers;
  // the embedding's rows are read from disk as tokens need them.
  bool head_streamed = false, embd_streamed = false;
  uint64_t head_chunk_bytes = 0;

  bool streams_experts(int64_t layer) const {
    return experts_streamed && layer_tier[layer] != Tier::kDevice && layer_experts[layer];
  }
  std::vector<bool> layer_experts;  // [n_layer] the layer is MoE (its experts can stream)

  int64_t n_resident() const;
  int64_t n_streamed() const { return static_cast<int64_t>(layer_tier.size()) - n_resident(); }
  std::string describe() const;  // the resolved plan, printed at start-up
};

// Resolves the options against the model's sizes. Errors when explicit choices do not fit
// the budgets ("--gpu-layers 12 needs 3.1 GiB of device memory, the budget is 2.0 GiB").
[[nodiscard]] Result<PlacementPlan> make_placement_plan(const PlacementOptions& opts,
                                                        const PlanInputs& in);

// Parses "512M", "2G", "1.5GiB", "1000000" into bytes.
[[nodiscard]] Result<uint64_t> parse_bytes(const std::string& text);
std::string format_bytes(uint64_t bytes);

}  // namespace strata
