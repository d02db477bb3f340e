#include "tools/bench_probe.h"

#include <emmintrin.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "backend/cpu/cpu_features.h"
#include "core/data_dir.h"
#include "core/file.h"
#include "core/timer.h"
#include "store/file_reader.h"
#include "store/placement.h"

namespace strata::cli {

namespace {

using ojson = nlohmann::ordered_json;

// 256 MiB per read() call, split by the reader into 8 MiB requests, 16 in flight: enough to
// keep an NVMe queue full; the store itself streams with 4 MiB x 8.
constexpr uint64_t kReadCallBytes = 256ull << 20;
// Copies larger than the last-level cache by far, small enough to be quick.
constexpr uint64_t kCopyBytes = 256ull << 20;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, AlignedFree>;

Result<AlignedBuffer> aligned_buffer(uint64_t nbytes) {
  void* p = nullptr;
  if (posix_memalign(&p, kDirectIoAlignBytes, nbytes) != 0) {
    return Status::errorf("probe: cannot allocate {}", format_bytes(nbytes));
  }
  return AlignedBuffer(static_cast<char*>(p));
}

// Incompressible bytes (splitmix64), so no layer below can shortcut zeros.
void fill_pattern(char* p, uint64_t nbytes, uint64_t seed) {
  uint64_t s = seed;
  for (uint64_t i = 0; i + 8 <= nbytes; i += 8) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(p + i, &z, 8);
  }
}

Status write_probe_file(const std::string& path, uint64_t nbytes) {
  const uint64_t buf_bytes = std::min<uint64_t>(nbytes, 64ull << 20);
  STRATA_ASSIGN_OR_RETURN(AlignedBuffer buf, aligned_buffer(buf_bytes));
  fill_pattern(buf.get(), buf_bytes, 42);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::errorf("probe: cannot create {}: {}", path, std::strerror(errno));
  Status st = Status::ok();
  for (uint64_t at = 0; at < nbytes && st;) {
    const uint64_t n = std::min(buf_bytes, nbytes - at);
    const ssize_t w = ::write(fd, buf.get(), n);
    if (w <= 0) {
      st = Status::errorf("probe: writing {} at offset {}: {}", path, at,
                          w < 0 ? std::strerror(errno) : "nothing written (disk full?)");
      break;
    }
    at += static_cast<uint64_t>(w);
  }
  if (st && ::fsync(fd) != 0)
    st = Status::errorf("probe: fsync {}: {}", path, std::strerror(errno));
  ::close(fd);
  return st;
}

// Reads the whole file once; returns GB/s.
Result<double> read_pass(FileReader& reader, uint64_t file_bytes, char* buf) {
  Stopwatch sw;
  for (uint64_t at = 0; at < file_bytes; at += kReadCallBytes) {
    const uint64_t n = std::min(kReadCallBytes, file_bytes - at);
    ReadRequest r{0, at, (n + kDirectIoAlignBytes - 1) / kDirectIoAlignBytes * kDirectIoAlignBytes,
                  buf};
    STRATA_TRY(reader.read({&r, 1}));
  }
  return file_bytes / sw.elapsed_s() / 1e9;
}

// The best of `passes` whole-file reads; every pass's figure goes to `each` when given.
Result<double> best_read(const std::string& path, uint64_t file_bytes, bool direct, int passes,
                         char* buf, std::string* describe, std::vector<double>* each = nullptr) {
  ReaderOptions ro;
  ro.direct = direct;
  // queue_depth and chunk_bytes stay at ReaderOptions' defaults: the ones the store streams with.
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> reader, make_file_reader({path}, ro));
  if (describe) *describe = reader->describe();
  double best = 0;
  for (int i = 0; i < passes; ++i) {
    STRATA_ASSIGN_OR_RETURN(double gbps, read_pass(*reader, file_bytes, buf));
    best = std::max(best, gbps);
    if (each) each->push_back(gbps);
  }
  return best;
}

double memcpy_gbps(char* dst, const char* src, uint64_t nbytes, int threads) {
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    Stopwatch sw;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      const uint64_t b = nbytes * t / threads, e = nbytes * (t + 1) / threads;
      pool.emplace_back([=] { std::memcpy(dst + b, src + b, e - b); });
    }
    for (auto& th : pool) th.join();
    best = std::max(best, nbytes / sw.elapsed_s() / 1e9);
  }
  return best;
}

// Read-only rate of `threads` threads summing their share of a buffer larger than the caches:
// the ceiling of a decode that streams weights from RAM (a copy also writes, so memcpy's
// figure counts about half the traffic). SSE2 loads with four accumulators: the baseline every
// x86-64 CPU has, enough to keep a core's outstanding misses full.
double dram_read_gbps(const char* src, uint64_t nbytes, int threads) {
  static std::atomic<uint64_t> sink{0};
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    Stopwatch sw;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      const uint64_t b = nbytes * t / threads / 64 * 64, e = nbytes * (t + 1) / threads / 64 * 64;
      pool.emplace_back([=] {
        __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
        for (uint64_t i = b; i < e; i += 64) {
          const __m128i* q = reinterpret_cast<const __m128i*>(src + i);
          a0 = _mm_add_epi64(a0, _mm_load_si128(q));
          a1 = _mm_add_epi64(a1, _mm_load_si128(q + 1));
          a2 = _mm_add_epi64(a2, _mm_load_si128(q + 2));
          a3 = _mm_add_epi64(a3, _mm_load_si128(q + 3));
        }
        const __m128i s = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
        sink.fetch_add(static_cast<uint64_t>(_mm_cvtsi128_si64(s)), std::memory_order_relaxed);
      });
    }
    for (auto& th : pool) th.join();
    best = std::max(best, nbytes / sw.elapsed_s() / 1e9);
  }
  return best;
}

// Best-of-`reps` host -> device copy rate from pinned memory (one cudaMemcpyAsync-sized
// copy per repetition, after one warm-up), and a check that the bytes arrived.
Result<double> device_copy_gbps(Device& dev, uint64_t nbytes, int reps) {
  STRATA_ASSIGN_OR_RETURN(void* d, dev.alloc(nbytes));
  auto host = dev.alloc_pinned(nbytes);
  if (!host) {
    dev.free(d);
    return host.status();
  }
  fill_pattern(static_cast<char*>(*host), nbytes, 7);
  double best = 0;
  Status st = Status::ok();
  for (int rep = -1; rep < reps && st; ++rep) {
    Stopwatch sw;
    auto ev = dev.copy_to_device_async(d, *host, nbytes);
    st = ev ? (*ev)->synchronize() : ev.status();
    if (st && rep >= 0) best = std::max(best, nbytes / sw.elapsed_s() / 1e9);
  }
  if (st) {
    // The last MiB back to the host: a copy engine that reports speed must also deliver.
    const uint64_t tail = std::min<uint64_t>(nbytes, 1 << 20);
    std::vector<char> back(tail);
    st = dev.copy_to_host(back.data(), static_cast<char*>(d) + nbytes - tail, tail);
    if (st && std::memcmp(back.data(), static_cast<char*>(*host) + nbytes - tail, tail) != 0) {
      st = Status::errorf("probe: {}: bytes copied to the device came back different", dev.name());
    }
  }
  dev.free_pinned(*host);
  dev.free(d);
  STRATA_TRY(st);
  return best;
}

}  // namespace

Result<ProbeResult> run_probe(const ProbeOptions& o,
                              const std::function<void(const std::string&)>& progress) {
  ProbeResult p;
  p.date = iso_date_utc();
  p.dir = o.dir;
  p.file = o.existing_file;
  std::string path = o.existing_file;
  Status st = Status::ok();
  if (path.empty()) {
    p.file_bytes =
        std::max<uint64_t>(o.file_bytes / kDirectIoAlignBytes * kDirectIoAlignBytes, 1ull << 20);
    std::error_code ec;
    std::filesystem::create_directories(o.dir, ec);  // the cache folder may not exist yet
    path = o.dir + "/.strata-probe-" + std::to_string(::getpid()) + ".bin";
    progress(fmt::format("writing a {} probe file {}", format_bytes(p.file_bytes), path));
    st = write_probe_file(path, p.file_bytes);
  } else {
    STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
    p.file_bytes = f.size_bytes() / kDirectIoAlignBytes * kDirectIoAlignBytes;
    if (p.file_bytes == 0) return Status::errorf("probe: {} is smaller than 4 KiB", path);
    progress(fmt::format("reading the existing file {} ({})", path, format_bytes(p.file_bytes)));
  }
  auto buf = aligned_buffer(std::min(kReadCallBytes, p.file_bytes));
  if (st && !buf) st = buf.status();
  if (st) {
    progress("disk: O_DIRECT sequential reads (best of 5)");
    // Five passes: a virtual disk's rate can swing several-fold from one pass to the next
    // (host caching below the guest), and a streamed layer set is read again every token.
    auto gbps =
        best_read(path, p.file_bytes, true, 5, buf->get(), &p.reader, &p.disk_direct_passes_gbps);
    if (gbps) p.disk_direct_gbps = *gbps;
    st = gbps.status();
  }
  if (st) {
    progress("page cache: buffered reads, the first one warming the cache (best of 3)");
    auto gbps = best_read(path, p.file_bytes, false, 3, buf->get(), nullptr);
    if (gbps) p.page_cache_gbps = *gbps;
    st = gbps.status();
  }
  if (o.existing_file.empty()) ::unlink(path.c_str());
  STRATA_TRY(st);

  const uint64_t copy_bytes = std::min(kCopyBytes, p.file_bytes);
  STRATA_ASSIGN_OR_RETURN(AlignedBuffer src, aligned_buffer(copy_bytes));
  STRATA_ASSIGN_OR_RETURN(AlignedBuffer dst, aligned_buffer(copy_bytes));
  fill_pattern(src.get(), copy_bytes, 1);
  std::memset(dst.get(), 0, copy_bytes);  // fault the pages in before timing
  for (int t : o.memcpy_threads) {
    progress(fmt::format("memcpy: {} thread{} (best of 5)", t, t == 1 ? "" : "s"));
    p.memcpy_gbps.emplace_back(t, memcpy_gbps(dst.get(), src.get(), copy_bytes, t));
  }
  for (int t : o.memcpy_threads) {
    progress(fmt::format("DRAM reads: {} thread{} (best of 5)", t, t == 1 ? "" : "s"));
    p.dram_read_gbps.emplace_back(t, dram_read_gbps(src.get(), copy_bytes, t));
  }
  progress("simulated device: host-to-device copies (best of 3)");
  p.sim_limit_gbps = o.sim.bandwidth_gbps;
  {
    std::unique_ptr<Device> sim = make_sim_device(o.sim);
    STRATA_ASSIGN_OR_RETURN(p.sim_copy_gbps, device_copy_gbps(*sim, copy_bytes, 3));
  }
  if (!cuda_backend_built()) {
    p.gpu = "no GPU (this build has no CUDA backend)";
    return p;
  }
  auto gpu = make_cuda_device({});
  if (!gpu) {
    p.gpu = "no GPU (" + gpu.status().message() + ")";
    return p;
  }
  progress(fmt::format("{}: pinned host-to-device copies (best of 5)", (*gpu)->name()));
  p.gpu = (*gpu)->name();
  STRATA_ASSIGN_OR_RETURN(p.gpu_h2d_gbps, device_copy_gbps(**gpu, kCopyBytes, 5));
  return p;
}

ojson probe_to_json(const ProbeResult& p) {
  ojson j;
  j["date"] = p.date;
  j["dir"] = p.dir;
  j["file"] = p.file;
  j["file_bytes"] = p.file_bytes;
  j["reader"] = p.reader;
  j["disk_direct_gbps"] = p.disk_direct_gbps;
  j["disk_direct_passes_gbps"] = p.disk_direct_passes_gbps;
  j["page_cache_gbps"] = p.page_cache_gbps;
  ojson m = ojson::object();
  for (const auto& [t, g] : p.memcpy_gbps) m[std::to_string(t)] = g;
  j["memcpy_gbps"] = m;
  ojson r = ojson::object();
  for (const auto& [t, g] : p.dram_read_gbps) r[std::to_string(t)] = g;
  j["dram_read_gbps"] = r;
  j["gpu"] = p.gpu;
  j["gpu_h2d_gbps"] = p.gpu_h2d_gbps;
  j["sim_copy_gbps"] = p.sim_copy_gbps;
  j["sim_limit_gbps"] = p.sim_limit_gbps;
  return j;
}

Result<ProbeResult> probe_from_json(const nlohmann::json& j) {
  ProbeResult p;
  try {
    p.date = j.at("date").get<std::string>();
    p.dir = j.value("dir", "");
    p.file = j.value("file", "");
    p.file_bytes = j.value("file_bytes", uint64_t{0});
    p.reader = j.value("reader", "");
    p.disk_direct_gbps = j.at("disk_direct_gbps").get<double>();
    p.disk_direct_passes_gbps = j.value("disk_direct_passes_gbps", std::vector<double>{});
    p.page_cache_gbps = j.at("page_cache_gbps").get<double>();
    for (const auto& [t, g] : j.at("memcpy_gbps").items()) {
      p.memcpy_gbps.emplace_back(std::stoi(t), g.get<double>());
    }
    std::sort(p.memcpy_gbps.begin(), p.memcpy_gbps.end());
    if (j.contains("dram_read_gbps")) {  // absent in caches written before it was measured
      for (const auto& [t, g] : j.at("dram_read_gbps").items()) {
        p.dram_read_gbps.emplace_back(std::stoi(t), g.get<double>());
      }
      std::sort(p.dram_read_gbps.begin(), p.dram_read_gbps.end());
    }
    p.gpu = j.value("gpu", "no GPU");
    p.gpu_h2d_gbps = j.value("gpu_h2d_gbps", 0.0);
    p.sim_copy_gbps = j.value("sim_copy_gbps", 0.0);
    p.sim_limit_gbps = j.value("sim_limit_gbps", 0.0);
  } catch (const std::exception& e) {
    return Status::errorf("probe results: {}", e.what());
  }
  return p;
}

std::string describe_probe(const ProbeResult& p) {
  std::string s = fmt::format("disk {:.2f} GB/s ({}, {}) | page cache {:.2f} GB/s",
                              p.disk_direct_gbps, p.reader,
                              p.file.empty() ? "fresh " + format_bytes(p.file_bytes) + " file"
                                             : std::filesystem::path(p.file).filename().string(),
                              p.page_cache_gbps);
  for (size_t i = 0; i < p.memcpy_gbps.size(); ++i) {
    s += fmt::format("{} {:.2f} GB/s ({} thread{})", i ? "," : " | memcpy", p.memcpy_gbps[i].second,
                     p.memcpy_gbps[i].first, p.memcpy_gbps[i].first == 1 ? "" : "s");
  }
  for (size_t i = 0; i < p.dram_read_gbps.size(); ++i) {
    s += fmt::format("{} {:.2f} GB/s ({} thread{})", i ? "," : " | DRAM read",
                     p.dram_read_gbps[i].second, p.dram_read_gbps[i].first,
                     p.dram_read_gbps[i].first == 1 ? "" : "s");
  }
  s += p.gpu_h2d_gbps > 0 ? fmt::format(" | GPU H2D {:.2f} GB/s", p.gpu_h2d_gbps) : " | " + p.gpu;
  s += fmt::format(" | sim device copy {:.2f} GB/s{}", p.sim_copy_gbps,
                   p.sim_limit_gbps > 0 ? fmt::format(" (limit {} GB/s)", p.sim_limit_gbps)
                                        : std::string(" (unlimited)"));
  s += " | measured " + p.date;
  return s;
}

std::string probe_cache_path() { return cache_dir() + "/probe.json"; }

Status save_probe(const ProbeResult& p, const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string text = probe_to_json(p).dump(2) + "\n";
  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::create(path));
  STRATA_TRY(w.write(text.data(), text.size()));
  return w.commit();
}

std::optional<ProbeResult> load_probe(const std::string& path, std::string* why) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  auto p = j.is_discarded() ? Result<ProbeResult>(Status::error("not JSON")) : probe_from_json(j);
  if (!p) {
    if (why) *why = path + ": " + p.status().message();
    return std::nullopt;
  }
  return std::move(p).value();
}

Link bounding_link(const ProbeResult& p, const std::string& offload_to, const std::string& device,
                   bool direct_io) {
  if (offload_to == "disk") {
    return direct_io ? Link{"disk", p.disk_direct_gbps} : Link{"page cache", p.page_cache_gbps};
  }
  if (offload_to == "ram") {
    if (device == "sim") return {"sim copy", p.sim_copy_gbps};
    for (const auto& [t, g] : p.memcpy_gbps) {
      if (t == 1) return {"memcpy", g};  // one copy thread moves host-tier layers
    }
  }
  return {"", 0};
}

nlohmann::ordered_json machine_info() {
  ojson j;
  std::string cpu = "unknown CPU";
  std::ifstream ci("/proc/cpuinfo");
  for (std::string line; std::getline(ci, line);) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  j["cpu"] = cpu;
  j["cpus"] = std::thread::hardware_concurrency();
  j["cpu_kernels"] = cpu_description();
  uint64_t mem_kb = 0;
  std::ifstream mi("/proc/meminfo");
  for (std::string line; std::getline(mi, line);) {
    if (line.rfind("MemTotal:", 0) == 0) mem_kb = std::strtoull(line.c_str() + 9, nullptr, 10);
  }
  j["ram"] = format_bytes(mem_kb * 1024);
  utsname u{};
  j["kernel"] = ::uname(&u) == 0 ? std::string(u.release) : "?";
  j["load_average_start"] = load_average();
  return j;
}

std::string iso_date_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (!(f >> a >> b >> c)) return "?";
  return a + " " + b + " " + c;
}

}  // namespace strata::cli
