#include "runtime/kv_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "core/check.h"
#include "store/placement.h"  // format_bytes

namespace strata {

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::kF16:
      return "f16";
    case KvType::kF32:
      return "f32";
    case KvType::kQ8_0:
      return "q8_0";
  }
  return "?";
}

DType kv_dtype(KvType t) {
  switch (t) {
    case KvType::kF32:
      return DType::kF32;
    case KvType::kQ8_0:
      return DType::kQ8_0;
    case KvType::kF16:
      break;
  }
  return DType::kF16;
}

Status check_kv_type(const ModelConfig& c, KvType t) {
  if (t == KvType::kQ8_0 && c.head_dim % 32 != 0) {
    return Status::errorf(
        "--kv-type q8_0 needs a head dimension that is a multiple of 32; this "
        "model's is {} (use f16 or f32)",
        c.head_dim);
  }
  return Status::ok();
}

namespace {
constexpr uint64_t kBlock = 4096;  // direct I/O alignment of offsets, lengths and buffers

uint64_t round_up(uint64_t x) { return (x + kBlock - 1) / kBlock * kBlock; }

char* map_bytes(size_t bytes) {
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  STRATA_CHECK(m != MAP_FAILED, "cannot map {} bytes for the KV cache", bytes);
  return static_cast<char*>(m);
}

uint64_t region_bytes(const ModelConfig& c, int64_t n_ctx, KvType type) {
  return round_up(static_cast<uint64_t>(n_ctx) *
                  static_cast<uint64_t>(strata::row_bytes(kv_dtype(type), c.kv_dim())));
}
}  // namespace

uint64_t KvCache::max_bytes(const ModelConfig& c, int64_t n_ctx, KvType type) {
  return 2ull * c.n_layer * n_ctx *
         static_cast<uint64_t>(strata::row_bytes(kv_dtype(type), c.kv_dim()));
}

uint64_t KvCache::disk_window_bytes(const ModelConfig& c, int64_t n_ctx, KvType type) {
  return 2 * 2 * region_bytes(c, n_ctx, type);  // two windows of K and V
}

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, KvType type)
    : n_ctx_(n_ctx),
      n_layer_(c.n_layer),
      kv_dim_(c.kv_dim()),
      dtype_(kv_dtype(type)),
      row_bytes_(strata::row_bytes(dtype_, c.kv_dim())) {
  STRATA_CHECK(check_kv_type(c, type).is_ok(), "KV type {} does not fit head_dim {}",
               kv_type_name(type), c.head_dim);
  map_bytes_ = std::max<size_t>(max_bytes(c, n_ctx, type) / 2, 1);
  k_ = map_bytes(map_bytes_);
  v_ = map_bytes(map_bytes_);
  for (int64_t l = 0; l < n_layer_; ++l) {
    k_base_.push_back(k_ + l * n_ctx_ * row_bytes_);
    v_base_.push_back(v_ + l * n_ctx_ * row_bytes_);
  }
}

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, KvType type, int fd, std::string desc)
    : n_ctx_(n_ctx),
      n_layer_(c.n_layer),
      kv_dim_(c.kv_dim()),
      dtype_(kv_dtype(type)),
      row_bytes_(strata::row_bytes(dtype_, c.kv_dim())),
      k_base_(c.n_layer, nullptr),
      v_base_(c.n_layer, nullptr),
      fd_(fd),
      file_desc_(std::move(desc)),
      region_(region_bytes(c, n_ctx, type)) {
  for (Window& w : win_) {
    w.k = map_bytes(region_);
    w.v = map_bytes(region_);
  }
  io_thread_ = std::thread([this] { io_loop(); });
}

Result<std::unique_ptr<KvCache>> KvCache::create_on_disk(const ModelConfig& c, int64_t n_ctx,
                                                         KvType type, const std::string& dir) {
  STRATA_TRY(check_kv_type(c, type));
  const std::string where = dir.empty() ? "." : dir;
  struct stat st {};
  if (::stat(where.c_str(), &st) != 0) {
    return Status::errorf("--kv-dir {}: not a directory ({})", where, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return Status::errorf("--kv-dir {}: not a directory", where);
  // An unnamed file: nothing is left behind however the process ends. Direct I/O where the
  // filesystem takes it, so the cache does not come back as page cache.
  bool direct = true;
  int fd = ::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC | O_DIRECT, 0600);
  if (fd < 0 && errno == EINVAL) {
    direct = false;
    fd = ::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  }
  bool named = false;
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // No O_TMPFILE here: a named file, unlinked at once.
    std::string tmpl = where + "/strata-kv-XXXXXX";
    fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd >= 0) {
      ::unlink(tmpl.c_str());
      named = true;
      direct = ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_DIRECT) == 0;
    }
  }
  if (fd < 0) {
    return Status::errorf("--kv-dir {}: cannot create the KV cache file: {}", where,
                          std::strerror(errno));
  }
  const uint64_t region = region_bytes(c, n_ctx, type);
  const uint64_t size = 2 * static_cast<uint64_t>(c.n_layer) * region;
  // Reserve the whole file now, so a full disk is an error here and not mid-generation.
  const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (rc != 0 && (rc != EOPNOTSUPP && rc != EINVAL)) {
    ::close(fd);
    return Status::errorf("--kv-dir {}: cannot reserve {} for the KV cache file: {}", where,
                          format_bytes(size), std::strerror(rc));
  }
  if (rc != 0 && ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::errorf("--kv-dir {}: cannot size the KV cache file to {}: {}", where,
                          format_bytes(size), std::strerror(e));
  }
  std::string desc =
      fmt::format("{} in {} ({}{})", format_bytes(size), where, named ? "unlinked" : "unnamed",
                  direct ? ", O_DIRECT" : ", page cache");
  return std::unique_ptr<KvCache>(new KvCache(c, n_ctx, type, fd, std::move(desc)));
}

KvCache::~KvCache() {
  if (fd_ >= 0) {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    io_thread_.join();
    ::close(fd_);
    for (Window& w : win_) {
      ::munmap(w.k, region_);
      ::munmap(w.v, region_);
    }
    return;
  }
  ::munmap(k_, map_bytes_);
  ::munmap(v_, map_bytes_);
}

void KvCache::store(int64_t layer, int64_t pos, const float* k, const float* v) {
  if (dtype_ == DType::kF32) {
    std::memcpy(this->k(layer, pos), k, kv_dim_ * sizeof(float));
    std::memcpy(this->v(layer, pos), v, kv_dim_ * sizeof(float));
    return;
  }
  if (dtype_ == DType::kF16) {  // the vector conversion, the codec's bits
    f16_from_f32(k, reinterpret_cast<uint16_t*>(this->k(layer, pos)), kv_dim_);
    f16_from_f32(v, reinterpret_cast<uint16_t*>(this->v(layer, pos)), kv_dim_);
    return;
  }
  const TypeTraits& t = type_traits(dtype_);
  t.from_float(k, this->k(layer, pos), kv_dim_);
  t.from_float(v, this->v(layer, pos), kv_dim_);
}

void KvCache::queue_read(int w, int64_t layer, int64_t rows) {
  Window& win = win_[w];
  win.layer = layer;
  win.rows = rows;
  const uint64_t hi = std::min(region_, round_up(static_cast<uint64_t>(rows) * row_bytes_));
  if (hi == 0) return;
  bytes_read_ += 2 * hi;
  {
    std::lock_guard lock(mu_);
    ++win.pending;
    jobs_.push_back(Job{w, false, layer, 0, hi});
  }
  cv_.notify_all();
}

Status KvCache::begin_disk(int64_t layer, int64_t from, int64_t to) {
  STRATA_CHECK(layer >= 0 && layer < n_layer_ && 0 <= from && from <= to && to <= n_ctx_,
               "KV begin_layer({}, {}, {}) out of range", layer, from, to);
  int w = -1;
  for (int i = 0; i < 2; ++i)
    if (win_[i].layer == layer) w = i;
  if (w < 0 || win_[w].rows < from) {
    // Not read ahead (the first pass, or a sequence that moved): read it now, into the
    // window the previous layer did not use.
    if (w < 0) w = 1 - cur_;
    queue_read(w, layer, from);
  }
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return win_[w].pending == 0 || !io_error_.is_ok(); });
    if (!io_error_.is_ok()) return io_error_;
  }
  cur_ = w;
  k_base_[layer] = win_[w].k;
  v_base_[layer] = win_[w].v;
  // Read ahead: the next layer of this pass, or after the last layer the first layer of the
  // next one (which will read the positions this pass stores).
  const int64_t next = layer + 1 < n_layer_ ? layer + 1 : 0;
  const int64_t next_rows = layer + 1 < n_layer_ ? from : to;
  const int o = 1 - w;
  if (next != layer && (win_[o].layer != next || win_[o].rows < next_rows)) {
    queue_read(o, next, next_rows);
  }
  return Status::ok();
}

void KvCache::end_disk(int64_t layer, int64_t from, int64_t to) {
  Window& win = win_[cur_];
  STRATA_CHECK(win.layer == layer && k_base_[layer] == win.k, "KV end_layer({}) without begin",
               layer);
  win.rows = to;  // [0, from) read, [from, to) stored
  k_base_[layer] = v_base_[layer] = nullptr;
  // Whole blocks around the stored positions; the bytes before `from` in the first block are
  // the file's own (read), those after `to` in the last are positions no pass reads before
  // storing them.
  const uint64_t lo = static_cast<uint64_t>(from) * row_bytes_ / kBlock * kBlock;
  const uint64_t hi = std::min(region_, round_up(static_cast<uint64_t>(to) * row_bytes_));
  if (hi <= lo) return;
  bytes_written_ += 2 * (hi - lo);
  {
    std::lock_guard lock(mu_);
    ++win.pending;
    jobs_.push_back(Job{cur_, true, layer, lo, hi});
  }
  cv_.notify_all();
}

Status KvCache::run_job(const Job& j) {
  const Window& win = win_[j.window];
  for (int half = 0; half < 2; ++half) {
    char* buf = (half ? win.v : win.k) + j.lo;
    const uint64_t off = file_offset(j.layer, half) + j.lo;
    uint64_t done = 0, n = j.hi - j.lo;
    while (done < n) {
      const ssize_t r = j.write ? ::pwrite(fd_, buf + done, n - done, off + done)
                                : ::pread(fd_, buf + done, n - done, off + done);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        return Status::errorf("KV cache file ({}): {} of layer {} at byte {} failed: {}",
                              file_desc_, j.write ? "write" : "read", j.layer, off + done,
                              r < 0 ? std::strerror(errno) : "end of file");
      }
      done += static_cast<uint64_t>(r);
    }
  }
  return Status::ok();
}

void KvCache::io_loop() {
  for (;;) {
    Job j;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      j = jobs_.front();
    }
    Status st = run_job(j);
    {
      std::lock_guard lock(mu_);
      jobs_.pop_front();
      --win_[j.window].pending;
      if (!st.is_ok() && io_error_.is_ok()) io_error_ = st;
    }
    cv_.notify_all();
  }
}

}  // namespace strata
