#pragma once
// Where each layer's weights live (device memory, host RAM or disk) and how many streaming
// slots there are. Options are declared once here and shared by run and bench.

#include <cstdint>
#include <string>
#include <vector>

#include "backend/device.h"
#include "core/status.h"
#include "store/file_reader.h"

namespace strata {

enum class Tier { kDevice, kHost, kDisk };
const char* tier_name(Tier t);  // "device", "ram", "disk"

// Which layers stay resident when not all fit: the first ones (streamed layers come last),
// the first and last few (oLLM's advice), or spread: streamed layers evenly between resident
// ones, so each streamed layer loads while the resident layers before it compute.
enum class ResidentPolicy { kFirst, kFirstLast, kSpread };
const char* resident_policy_name(ResidentPolicy p);  // "first", "first-last", "spread"

struct PlacementOptions {
  int64_t gpu_layers = -1;            // layers resident on the compute device; -1 = auto
  std::string offload_to = "auto";    // "ram", "disk", or "auto": disk on the CPU backend
                                      // (RAM is its device memory), ram on other devices
  int prefetch = 1;                   // 0 = load synchronously before use, 1 = double buffering
  uint64_t ram_budget_bytes = 0;      // 0 = no limit
  uint64_t vram_budget_bytes = 0;     // 0 = the device's capacity
  ResidentPolicy keep = ResidentPolicy::kSpread;
  std::string device = "cpu";         // "cpu" or "sim"
  SimDeviceOptions sim;
  ReaderOptions io;
  std::string pack_dir;               // stream from this layer pack ("" = the model's files)
  bool auto_pack = true;              // write a pack to the cache when the file is unsuitable
  bool verify = false;                // check pack checksums on every streamed read
};

// Memory the rest of the engine needs besides weights (KV cache, scratch), for budgets.
struct PlanInputs {
  std::vector<uint64_t> layer_bytes;  // bytes a layer occupies in compute memory
  uint64_t globals_bytes = 0;
  uint64_t slot_bytes = 0;            // largest streamed layer layout
  uint64_t runtime_bytes = 0;         // KV cache + scratch, in host RAM
  bool device_shares_host = true;
  uint64_t device_capacity_bytes = 0; // 0 = unlimited
};

struct PlacementPlan {
  std::vector<Tier> layer_tier;       // [n_layer]
  Tier offload_tier = Tier::kDisk;
  int prefetch = 1;
  int n_slots = 0;                    // prefetch + 1 when any layer streams, else 0
  uint64_t slot_bytes = 0;
  uint64_t device_bytes = 0;          // globals + resident layers + slots
  uint64_t host_bytes = 0;            // host-tier layers (+ staging when not shared)
  uint64_t disk_bytes = 0;            // disk-tier layers
  std::string auto_note;              // how "auto" decided, "" if nothing was automatic

  int64_t n_resident() const;
  int64_t n_streamed() const { return static_cast<int64_t>(layer_tier.size()) - n_resident(); }
  std::string describe() const;       // the resolved plan, printed at start-up
};

// Resolves the options against the model's sizes. Errors when explicit choices do not fit
// the budgets ("--gpu-layers 12 needs 3.1 GiB of device memory, the budget is 2.0 GiB").
[[nodiscard]] Result<PlacementPlan> make_placement_plan(const PlacementOptions& opts,
                                                        const PlanInputs& in);

// Parses "512M", "2G", "1.5GiB", "1000000" into bytes.
[[nodiscard]] Result<uint64_t> parse_bytes(const std::string& text);
std::string format_bytes(uint64_t bytes);

}  // namespace strata
