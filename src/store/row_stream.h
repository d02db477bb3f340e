#pragma once
// The token embedding and the output head when they do not stay resident. The head (for a
// Llama 3.2 1B, 128,256 rows: as many bytes as eight layers) streams from disk in chunks of
// rows through two buffers, the next chunk loading while one computes, and the first chunk of
// the next token loading as soon as the last one is taken. An embedding lookup reads only
// the rows its tokens need.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/device.h"
#include "format/tensor_index.h"
#include "store/file_reader.h"
#include "store/weight_store.h"

namespace strata {

// A matrix read from disk in chunks of rows. `reader` and `device` must outlive it.
class DiskRowStream final : public RowStream {
 public:
  // Chunks of about `chunk_bytes` (a multiple of 64 rows); two buffers of them on `device`.
  [[nodiscard]] static Result<std::unique_ptr<DiskRowStream>> create(const TensorInfo& tensor,
                                                                     uint64_t chunk_bytes,
                                                                     FileReader& reader,
                                                                     Device& device);
  // The device memory create() allocates for a tensor: both buffers.
  static uint64_t buffer_bytes(const TensorInfo& tensor, uint64_t chunk_bytes);
  ~DiskRowStream() override;

  int64_t n_rows() const override { return n_rows_; }
  int64_t chunk_rows() const override { return chunk_rows_; }
  Result<WeightView> acquire(int64_t chunk) override;
  void release(int64_t chunk) override;
  // Chunk loads taken since the last call (LayerLoad::layer -1: the head).
  std::vector<LayerLoad> take_loads();

 private:
  enum class State { kFree, kLoading, kReady, kFailed };
  struct Buffer {
    char* mem = nullptr;
    char* staging = nullptr;  // pinned; devices that do not share host memory
    int64_t chunk = -1;
    State state = State::kFree;
    bool in_use = false;
    bool counted = false;  // its load is in loads_ already
    Status error;
    WeightView view;
    LayerLoad load;
  };
  DiskRowStream(const TensorInfo& t, FileReader& reader, Device& device)
      : t_(t), reader_(reader), device_(device) {}
  void schedule_locked(int64_t chunk);
  void io_loop();

  const TensorInfo& t_;
  FileReader& reader_;
  Device& device_;
  int64_t n_rows_ = 0, cols_ = 0, row_bytes_ = 0, chunk_rows_ = 0;
  uint64_t buffer_bytes_ = 0;
  std::mutex mu_;
  std::condition_variable cv_, io_cv_;
  Buffer bufs_[2];
  std::vector<int> queue_;  // buffers to load
  std::vector<LayerLoad> loads_;
  bool stop_ = false;
  std::thread io_thread_;
};

// Reads rows of a matrix from disk on demand (token embedding lookups).
class DiskRows {
 public:
  DiskRows(const TensorInfo& tensor, FileReader& reader) : t_(tensor), reader_(reader) {}
  // Rows `ids` (each < rows) as floats into out [n, cols].
  [[nodiscard]] Status read(std::span<const int32_t> ids, float* out);

 private:
  const TensorInfo& t_;
  FileReader& reader_;
  std::mutex mu_;
  char* buf_ = nullptr;  // 4096-aligned scratch
  uint64_t buf_bytes_ = 0;

 public:
  ~DiskRows();
};

}  // namespace strata
