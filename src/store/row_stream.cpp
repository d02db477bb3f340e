#include "store/row_stream.h"

#include <algorithm>
#include <cstdlib>

#include "core/timer.h"
#include "core/units.h"
#include "store/layer_layout.h"

namespace strata {

namespace {
constexpr int64_t kRowGrain = 64;  // chunks hold a multiple of this many rows

// Rows per chunk for about `chunk_bytes` per chunk.
int64_t rows_per_chunk(const TensorInfo& t, uint64_t chunk_bytes) {
  const int64_t rows = t.shape.front();
  const uint64_t rb = t.nbytes / static_cast<uint64_t>(std::max<int64_t>(rows, 1));
  int64_t r = static_cast<int64_t>(chunk_bytes / std::max<uint64_t>(rb, 1)) / kRowGrain * kRowGrain;
  return std::clamp<int64_t>(r, std::min(kRowGrain, rows), rows);
}
}  // namespace

uint64_t DiskRowStream::buffer_bytes(const TensorInfo& t, uint64_t chunk_bytes) {
  const int64_t rows = t.shape.front();
  const uint64_t rb = t.nbytes / static_cast<uint64_t>(std::max<int64_t>(rows, 1));
  const uint64_t one =
      align_up(static_cast<uint64_t>(rows_per_chunk(t, chunk_bytes)) * rb, kDirectIoAlignBytes) +
      2 * kDirectIoAlignBytes;
  return 2 * one;
}

Result<std::unique_ptr<DiskRowStream>> DiskRowStream::create(const TensorInfo& t,
                                                             uint64_t chunk_bytes,
                                                             FileReader& reader, Device& device) {
  if (t.shape.size() != 2 || !t.dtype || t.shape[0] <= 0) {
    return Status::errorf("tensor '{}': not a matrix strata can stream by rows", t.name);
  }
  std::unique_ptr<DiskRowStream> s(new DiskRowStream(t, reader, device));
  s->n_rows_ = t.shape[0];
  s->cols_ = t.shape[1];
  s->row_bytes_ = static_cast<int64_t>(row_bytes(*t.dtype, s->cols_));
  if (static_cast<uint64_t>(s->row_bytes_ * s->n_rows_) != t.nbytes) {
    return Status::errorf("tensor '{}': {} bytes do not hold {} rows of {} {}", t.name, t.nbytes,
                          s->n_rows_, s->cols_, t.dtype_name);
  }
  s->chunk_rows_ = rows_per_chunk(t, chunk_bytes);
  s->buffer_bytes_ = buffer_bytes(t, chunk_bytes) / 2;
  for (Buffer& b : s->bufs_) {
    auto mem = device.alloc(s->buffer_bytes_);
    if (!mem) return mem.status().with_context("allocating the output head's chunk buffers");
    b.mem = static_cast<char*>(*mem);
    if (!device.shares_host_memory()) {
      auto p = device.alloc_pinned(s->buffer_bytes_);
      if (!p) return p.status().with_context("allocating the output head's staging buffer");
      b.staging = static_cast<char*>(*p);
    }
  }
  s->io_thread_ = std::thread([p = s.get()] { p->io_loop(); });
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    s->schedule_locked(0);  // ready for the first token
  }
  return s;
}

DiskRowStream::~DiskRowStream() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  io_cv_.notify_all();
  cv_.notify_all();
  if (io_thread_.joinable()) io_thread_.join();
  for (Buffer& b : bufs_) {
    if (b.mem) device_.free(b.mem);
    if (b.staging) device_.free_pinned(b.staging);
  }
}

// Loads `chunk` into a buffer nobody computes with and that is not loading, if there is one
// and no buffer holds the chunk already.
void DiskRowStream::schedule_locked(int64_t chunk) {
  for (const Buffer& b : bufs_) {
    if (b.chunk == chunk && b.state != State::kFree && b.state != State::kFailed) return;
  }
  for (int i = 0; i < 2; ++i) {
    Buffer& b = bufs_[i];
    if (b.in_use || b.state == State::kLoading) continue;
    b.chunk = chunk;
    b.state = State::kLoading;
    b.error = Status::ok();
    b.counted = false;
    b.load = LayerLoad{};
    b.load.layer = -1;
    b.load.tier = Tier::kDisk;
    b.load.request_s = now_seconds();
    queue_.push_back(i);
    io_cv_.notify_one();
    return;
  }
}

Result<WeightView> DiskRowStream::acquire(int64_t chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  const double t0 = now_seconds();
  Buffer* b = nullptr;
  for (;;) {
    for (Buffer& x : bufs_) {
      if (x.chunk == chunk && x.state != State::kFree) b = &x;
    }
    if (b || stop_) break;
    schedule_locked(chunk);
    bool scheduled = false;
    for (Buffer& x : bufs_) scheduled |= x.chunk == chunk && x.state == State::kLoading;
    if (!scheduled) cv_.wait(lock);  // both buffers busy: wait for one
  }
  if (!b) return Status::error("the output head's stream is shutting down");
  cv_.wait(lock, [&] { return b->state != State::kLoading || stop_; });
  if (b->state != State::kReady) {
    Status err = b->state == State::kFailed ? b->error : Status::error("shutting down");
    b->state = State::kFree;
    b->chunk = -1;
    return err;
  }
  b->in_use = true;
  if (!b->counted) {  // a chunk kept from the last token moved no bytes this time
    b->counted = true;
    b->load.stall_s = now_seconds() - t0;
    loads_.push_back(b->load);
  }
  schedule_locked((chunk + 1) % n_chunks());  // the next chunk, or the next token's first
  return b->view;
}

void DiskRowStream::release(int64_t chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Buffer& b : bufs_) {
    if (b.chunk == chunk && b.in_use) b.in_use = false;
  }
  schedule_locked((chunk + 1) % n_chunks());
  cv_.notify_all();
}

std::vector<LayerLoad> DiskRowStream::take_loads() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LayerLoad> out;
  out.swap(loads_);
  return out;
}

void DiskRowStream::io_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    io_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Buffer& b = bufs_[queue_.front()];
    queue_.erase(queue_.begin());
    const int64_t first = b.chunk * chunk_rows_;
    const int64_t rows = std::min(chunk_rows_, n_rows_ - first);
    const uint64_t nbytes = static_cast<uint64_t>(rows * row_bytes_);
    b.load.start_s = now_seconds();
    lock.unlock();
    // The buffer is the I/O thread's while it is kLoading.
    char* base = b.staging ? b.staging : b.mem;
    const AlignedRead r =
        aligned_read(t_.file_index, t_.offset + static_cast<uint64_t>(first * row_bytes_), nbytes,
                     base, dtype_alignment(*t_.dtype));
    Status st = reader_.read({&r.request, 1});
    if (st) r.realign();
    if (st && b.staging) {
      auto ev = device_.copy_to_device_async(b.mem, b.staging, buffer_bytes_);
      st = ev ? (*ev)->synchronize() : ev.status();
    }
    lock.lock();
    if (!st) {
      b.state = State::kFailed;
      b.error = st.with_context("reading rows " + std::to_string(first) + ".." +
                                std::to_string(first + rows - 1) + " of '" + t_.name + "'");
    } else {
      b.view.data = b.mem + (r.data - base);
      b.view.dtype = *t_.dtype;
      b.view.rows = rows;
      b.view.cols = cols_;
      b.view.row_bytes = row_bytes_;
      b.load.bytes = nbytes;
      b.load.read_bytes = r.request.nbytes;
      b.load.ready_s = now_seconds();
      b.state = State::kReady;
    }
    cv_.notify_all();
  }
}

DiskRows::~DiskRows() { std::free(buf_); }

Status DiskRows::read(std::span<const int32_t> ids, float* out) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t rows = t_.shape.front(), cols = t_.shape.back();
  const uint64_t rb = row_bytes(*t_.dtype, cols);
  uint64_t need = 0;
  for (int32_t id : ids) {
    if (id < 0 || id >= rows) return Status::errorf("row {} of '{}' is out of range", id, t_.name);
    need += aligned_read_bytes(t_.offset + static_cast<uint64_t>(id) * rb, rb);
  }
  if (need > buf_bytes_) {
    std::free(buf_);
    buf_bytes_ = align_up(need, kDirectIoAlignBytes);
    buf_ = static_cast<char*>(std::aligned_alloc(kDirectIoAlignBytes, buf_bytes_));
    if (!buf_) {
      buf_bytes_ = 0;
      return Status::errorf("out of memory reading {} rows of '{}'", ids.size(), t_.name);
    }
  }
  std::vector<AlignedRead> reads;
  std::vector<ReadRequest> requests;
  uint64_t at = 0;
  for (int32_t id : ids) {
    const uint64_t off = t_.offset + static_cast<uint64_t>(id) * rb;
    reads.push_back(aligned_read(t_.file_index, off, rb, buf_ + at, dtype_alignment(*t_.dtype)));
    requests.push_back(reads.back().request);
    at += aligned_read_bytes(off, rb);
  }
  STRATA_TRY(reader_.read(requests).with_context("reading rows of '" + t_.name + "'"));
  for (size_t i = 0; i < reads.size(); ++i) {
    reads[i].realign();
    WeightView v;
    v.data = reads[i].data;
    v.dtype = *t_.dtype;
    v.rows = 1;
    v.cols = cols;
    v.row_bytes = static_cast<int64_t>(rb);
    row_to_f32(v, 0, out + static_cast<int64_t>(i) * cols);
  }
  return Status::ok();
}

}  // namespace strata
