#pragma once
// strata bench --probe: this machine's ceilings for streaming weights, so every benchmark can
// say how close it came to the link that bounds it ("stream 1.8 GB/s = 86% of disk").
//   disk        O_DIRECT sequential reads through the store's FileReader (cold: no page cache)
//   page cache  buffered reads of a file that is already cached
//   memcpy      RAM-to-RAM copy rate with 1, 2, ... threads (the CPU backend's "H2D")
//   DRAM read   read-only rate with as many threads: the ceiling of a decode from RAM
//   sim         the simulated device's host-to-device copy rate (with --sim-bandwidth)
//   GPU H2D     pinned host-to-device copies: "no GPU" until a CUDA backend exists
// Results are cached as JSON in the strata cache directory.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "backend/device.h"
#include "core/status.h"

namespace strata::cli {

struct ProbeOptions {
  std::string dir = ".";             // where the disk probe file is written (then removed)
  uint64_t file_bytes = 1ull << 30;  // the probe file; >= 1 GiB defeats drive caches
  // Read this existing file instead (e.g. the model itself): on a VM the host may cache a
  // file the guest has read before, and then only that file shows the rate streaming gets.
  std::string existing_file;
  std::vector<int> memcpy_threads = {1, 2};
  SimDeviceOptions sim;  // the simulated device to measure
};

struct ProbeResult {
  std::string date;  // ISO 8601, UTC
  std::string dir;
  std::string file;  // the existing file read, "" for a fresh probe file
  uint64_t file_bytes = 0;
  std::string reader;                           // "io_uring+O_DIRECT", ...
  double disk_direct_gbps = 0;                  // 1e9 bytes per second: the best pass
  std::vector<double> disk_direct_passes_gbps;  // every pass, in order
  double page_cache_gbps = 0;
  std::vector<std::pair<int, double>> memcpy_gbps;     // threads -> GB/s copied
  std::vector<std::pair<int, double>> dram_read_gbps;  // threads -> GB/s read (no writes)
  std::string gpu = "no GPU";                          // what the GPU line says
  double gpu_h2d_gbps = 0;                             // 0 when there is no GPU
  double sim_copy_gbps = 0;
  double sim_limit_gbps = 0;  // --sim-bandwidth it ran with (0 = unlimited)
};

// Runs every measurement; `progress` receives one line per step. Takes about
// 8 x file_bytes of I/O (5 direct passes, 3 buffered) plus a few seconds of copies.
[[nodiscard]] Result<ProbeResult> run_probe(
    const ProbeOptions& opts, const std::function<void(const std::string&)>& progress);

nlohmann::ordered_json probe_to_json(const ProbeResult& p);
[[nodiscard]] Result<ProbeResult> probe_from_json(const nlohmann::json& j);
// "disk 1.92 GB/s (io_uring+O_DIRECT) | page cache 6.1 GB/s | memcpy 9.8 GB/s (1 thread), ..."
std::string describe_probe(const ProbeResult& p);

// $STRATA_CACHE_DIR/probe.json, else $XDG_CACHE_HOME/strata/probe.json, else
// ~/.cache/strata/probe.json.
std::string probe_cache_path();
[[nodiscard]] Status save_probe(const ProbeResult& p, const std::string& path);
// nullopt when there is no cache (or it is unreadable: then `why` says so).
std::optional<ProbeResult> load_probe(const std::string& path, std::string* why);

// The ceiling a configuration streams against: disk (or page cache without O_DIRECT) for
// offload to disk; for offload to RAM, the device's copy path: memcpy by one copy thread on
// the CPU, the simulated device's copy rate on sim. {"", 0} when nothing streams.
struct Link {
  std::string name;
  double gbps = 0;
};
Link bounding_link(const ProbeResult& p, const std::string& offload_to, const std::string& device,
                   bool direct_io);

// One line about the machine: CPU model, CPU count, RAM, kernel; and the load average now.
nlohmann::ordered_json machine_info();
std::string load_average();
// Now, as "2026-11-25T20:47:03Z".
std::string iso_date_utc();

}  // namespace strata::cli
