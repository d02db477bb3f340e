#pragma once
// One sequence's attention cache: K and V for every layer and position,
// [n_layer][n_ctx][kv_dim] each, in the cache's type (F16 by default, F32 or Q8_0: rows of
// kv_dim elements, row_bytes apart).
//
// In RAM (the default): anonymous mappings with MAP_NORESERVE, so pages become resident only
// as positions are written: RSS grows with the tokens a session actually used, not with -c,
// and an idle session costs nothing.
//
// On disk (KvTier::kDisk, when the cache does not fit the RAM budget): an unnamed file (gone
// when the process ends, however it ends) holds every layer, and two windows of one layer each
// stay in RAM. A forward pass brackets each layer's attention with begin_layer() / end_layer():
// begin waits for the layer's rows (read ahead while the previous layer computed) and starts
// reading the next layer's into the other window; end writes the positions the pass stored
// back. Reads and writes are direct I/O where the filesystem allows it, in file order on one
// I/O thread, so a window is refilled only after its write-back. Values are the same bytes
// either way, so logits do not depend on the tier.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "model/config.h"
#include "strata/options.h"

namespace strata {

// The cache's element type for a KvType.
DType kv_dtype(KvType t);
// An error when the model's shape cannot hold `t` (Q8_0 needs head_dim a multiple of 32, so
// each head's slice of a row is whole blocks).
[[nodiscard]] Status check_kv_type(const ModelConfig& c, KvType t);

// Where a cache lives.
enum class KvTier { kRam, kDisk };

// Owned by one Session (or a Transformer used directly); not thread-safe. Not copyable.
class KvCache {
 public:
  // In RAM. `type` must pass check_kv_type.
  KvCache(const ModelConfig& c, int64_t n_ctx, KvType type = KvType::kF16);
  // On disk, in an unnamed file in directory `dir`; an error names the directory and why
  // (missing, read-only, no space for the whole cache).
  [[nodiscard]] static Result<std::unique_ptr<KvCache>> create_on_disk(const ModelConfig& c,
                                                                       int64_t n_ctx, KvType type,
                                                                       const std::string& dir);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int64_t n_ctx() const { return n_ctx_; }
  DType dtype() const { return dtype_; }
  KvTier tier() const { return fd_ >= 0 ? KvTier::kDisk : KvTier::kRam; }
  int64_t row_bytes() const { return row_bytes_; }  // one position's K (or V), all heads
  // Position `pos` of `layer`; on disk only between begin_layer(layer) and end_layer(layer).
  char* k(int64_t layer, int64_t pos) const { return k_base_[layer] + pos * row_bytes_; }
  char* v(int64_t layer, int64_t pos) const { return v_base_[layer] + pos * row_bytes_; }
  // Stores one position's K and V (kv_dim floats each) in the cache's type.
  void store(int64_t layer, int64_t pos, const float* k, const float* v);

  // A forward pass over positions [from, to) of this sequence, layer by layer: positions
  // < from are read, [from, to) stored. No-ops in RAM.
  [[nodiscard]] Status begin_layer(int64_t layer, int64_t from, int64_t to) {
    return fd_ < 0 ? Status::ok() : begin_disk(layer, from, to);
  }
  void end_layer(int64_t layer, int64_t from, int64_t to) {
    if (fd_ >= 0) end_disk(layer, from, to);
  }
  // Disk traffic so far, counted as it is queued (0 in RAM).
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t bytes_written() const { return bytes_written_; }

  // Bytes the cache can grow to (both K and V, every layer, n_ctx positions).
  static uint64_t max_bytes(const ModelConfig& c, int64_t n_ctx, KvType type);
  // RAM a cache on disk holds: its two windows.
  static uint64_t disk_window_bytes(const ModelConfig& c, int64_t n_ctx, KvType type);

 private:
  struct Window {
    char* k = nullptr;
    char* v = nullptr;
    int64_t layer = -1;  // the layer it holds (or is being read with), -1: none
    int64_t rows = 0;    // positions [0, rows) of that layer are (or will be) valid
    int pending = 0;     // queued I/O jobs on it
  };
  struct Job {
    int window;
    bool write;
    int64_t layer;
    uint64_t lo, hi;  // byte range within the layer's K (and V) region, block-aligned
  };
  KvCache(const ModelConfig& c, int64_t n_ctx, KvType type, int fd, std::string desc);
  Status begin_disk(int64_t layer, int64_t from, int64_t to);
  void end_disk(int64_t layer, int64_t from, int64_t to);
  // Queues a read of positions [0, rows) of `layer` into window `w`.
  void queue_read(int w, int64_t layer, int64_t rows);
  void io_loop();
  Status run_job(const Job& j);
  uint64_t file_offset(int64_t layer, bool v) const { return (2 * layer + v) * region_; }

  int64_t n_ctx_, n_layer_, kv_dim_;
  DType dtype_;
  int64_t row_bytes_;
  size_t map_bytes_ = 0;
  char* k_ = nullptr;
  char* v_ = nullptr;
  std::vector<char*> k_base_, v_base_;  // [n_layer]

  // On disk.
  int fd_ = -1;
  std::string file_desc_;  // for messages: size, directory, O_DIRECT or not
  uint64_t region_ = 0;    // one layer's K (or V): n_ctx rows, rounded up to a block
  Window win_[2];
  int cur_ = 0;  // the window of the layer between begin and end
  uint64_t bytes_read_ = 0, bytes_written_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  Status io_error_ = Status::ok();
  bool stop_ = false;
  std::thread io_thread_;
};

}  // namespace strata
