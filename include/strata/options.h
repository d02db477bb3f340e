#pragma once
// The options and records of strata's public API: sampling, placement, I/O and the per-layer
// load record. Plain structs; the library's headers include this one.

#include <cstdint>
#include <string>

namespace strata {

struct SamplerOptions {
  float temperature = 0.8f;     // 0 = greedy (argmax)
  int32_t top_k = 40;           // 0 = off
  float top_p = 0.95f;          // 1 = off
  float min_p = 0.05f;          // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off; divides positive logits, multiplies negative
  int32_t repeat_last_n = 64;   // how many recent tokens the penalty looks at
  uint64_t seed = 0;
};

// The attention cache's element type. F16 halves F32's memory at an error far below the
// weights' (llama.cpp's default too); Q8_0 quarters it (needs head_dim a multiple of 32).
enum class KvType { kF16, kF32, kQ8_0 };
const char* kv_type_name(KvType t);  // "f16", "f32", "q8_0"

struct SimDeviceOptions {
  uint64_t capacity_bytes = 0;  // 0 = unlimited
  double bandwidth_gbps = 0;    // host -> device copy limit in GB/s (1e9 bytes); 0 = unlimited
  double latency_us = 0;        // fixed cost added to every copy
};

struct ReaderOptions {
  bool direct = true;                 // O_DIRECT: bypass the page cache (falls back if unsupported)
  std::string engine = "auto";        // "auto" (io_uring if available), "uring", "pread"
  uint32_t queue_depth = 16;          // requests in flight
  uint64_t chunk_bytes = 8ull << 20;  // split large reads into chunks of this size
};

enum class Tier { kDevice, kHost, kDisk };
const char* tier_name(Tier t);  // "device", "ram", "disk"

// Which layers stay resident when not all fit: the first ones (streamed layers come last),
// the first and last few (oLLM's advice), or spread: streamed layers evenly between resident
// ones, so each streamed layer loads while the resident layers before it compute.
enum class ResidentPolicy { kFirst, kFirstLast, kSpread };
const char* resident_policy_name(ResidentPolicy p);  // "first", "first-last", "spread"

struct PlacementOptions {
  int64_t gpu_layers = -1;          // layers resident on the compute device; -1 = auto
  std::string offload_to = "auto";  // "ram", "disk", or "auto": disk on the CPU backend
                                    // (RAM is its device memory), ram on other devices
  int prefetch = -1;                // 0 = load synchronously before use, 1 = double buffering,
                                    // -1 = auto: 1 unless only 0 fits the budget
  uint64_t ram_budget_bytes = 0;    // 0 = no limit
  uint64_t vram_budget_bytes = 0;   // 0 = the device's capacity
  ResidentPolicy keep = ResidentPolicy::kSpread;
  std::string device = "cpu";  // "cpu" or "sim"
  SimDeviceOptions sim;
  ReaderOptions io;
  std::string pack_dir;   // stream from this layer pack ("" = the model's files)
  bool auto_pack = true;  // write a pack to the cache when the file is unsuitable
  bool verify = false;    // check pack checksums on every streamed read
  // Mixture-of-experts models streamed from disk: a streamed layer keeps attention, norms
  // and router resident and reads only the experts routing chose, through an expert cache
  // of this many bytes (0 = auto: what --ram-budget leaves, all the streamed experts at
  // most; with no budget, the bytes whole-layer slots would take).
  uint64_t expert_cache_bytes = 0;
  bool stream_experts = true;  // false: MoE layers stream whole, like dense ones
  // Experts streamed: also load the next layer's likely experts ahead of routing (its last
  // choice or its router's guess). Off by default: on the qwen3-30b-a3b shape the guesses
  // added 13-100% to the bytes per token for no measurable speed (docs/BENCHMARKS.md), since
  // a layer's own misses already load while its hits compute.
  bool expert_prefetch = false;
  // The output head: "resident", "stream" (from disk in row chunks, the embedding's rows
  // read as tokens need them) or "auto": streamed only when no plan fits a budget otherwise.
  // An untied embedding streams whenever any layer does (a token reads one row of it).
  std::string output_head = "auto";
  uint64_t head_chunk_bytes = 16ull << 20;  // rows of a streamed head read at a time (x2 buffers)
};

// One streamed layer (or expert) load, measured. Times are steady-clock seconds (now_seconds()).
struct LayerLoad {
  int64_t layer = 0;    // -1: a chunk of the output head
  int32_t expert = -1;  // >= 0: one expert of a mixture-of-experts layer, not the whole layer
  Tier tier = Tier::kDisk;
  uint64_t bytes = 0;       // the layer's tensor bytes
  uint64_t read_bytes = 0;  // bytes actually read or copied (alignment, small gaps)
  double request_s = 0;     // queued
  double start_s = 0;       // I/O or copy began
  double ready_s = 0;       // usable by compute
  double stall_s = 0;       // how long acquire() waited for it
};

}  // namespace strata
