// The io_uring engine: requests are cut into chunk_bytes pieces and up to queue_depth of them
// are in flight at once, so one large layer read keeps an NVMe queue busy from one thread.
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "core/units.h"
#include "store/file_reader_internal.h"

namespace strata::file_reader_internal {
namespace {

// The kernel caps a ring at 32768 entries; past a few dozen requests in flight an NVMe drive
// gains nothing.
constexpr uint32_t kMaxQueueDepth = 4096;
// Rings are created on demand, one per concurrent caller. Beyond this many, callers wait for a
// free ring: more concurrent rings than I/O threads only adds kernel memory.
constexpr size_t kMaxRings = 64;

// One io_uring instance. Used by one thread at a time (the pool hands it out).
struct Ring {
  io_uring ring{};
  bool live = false;  // io_uring_queue_init succeeded, so there is something to tear down
  ~Ring() {
    if (live) io_uring_queue_exit(&ring);
  }
};

// 0, or -errno from io_uring_queue_init.
int create_ring(uint32_t depth, std::unique_ptr<Ring>* out) {
  auto r = std::make_unique<Ring>();
  int ret = io_uring_queue_init(depth, &r->ring, 0);
  if (ret < 0) return ret;
  r->live = true;
  *out = std::move(r);
  return 0;
}

// A piece of one request, read by one or more SQEs (more when a completion comes back short).
struct Chunk {
  uint32_t file_index = 0;
  uint64_t file_offset = 0;  // of the chunk's first byte
  char* dst = nullptr;
  uint64_t len_bytes = 0;       // asked of the kernel (block-rounded for O_DIRECT)
  uint64_t expected_bytes = 0;  // that must come back (below the size at open)
  uint64_t done_bytes = 0;
};

// Thread-safe: each read() takes a ring from the pool (creating one when every ring is busy),
// so concurrent callers never share a ring and the lock is held only to pick one.
class UringReader final : public NamedFileReader {
 public:
  UringReader(std::shared_ptr<const OpenedFiles> files, const ReaderOptions& opts,
              std::unique_ptr<Ring> first)
      : files_(std::move(files)),
        depth_(std::clamp<uint32_t>(opts.queue_depth, 1, kMaxQueueDepth)),
        chunk_bytes_(effective_chunk_bytes(*files_, opts.chunk_bytes)) {
    free_.push_back(std::move(first));
    n_rings_ = 1;
  }

  Status read(std::span<const ReadRequest> requests) override {
    for (const ReadRequest& r : requests) check_request(*files_, r);
    std::unique_ptr<Ring> ring;
    STRATA_TRY(acquire(&ring));
    bool ring_broken = false;
    Status s = run(&ring->ring, requests, &ring_broken);
    release(ring_broken ? nullptr : std::move(ring));
    return s;
  }
  std::string describe() const override { return describe_files("io_uring", *files_, ""); }
  uint64_t file_size(uint32_t file_index) const override {
    return files_->files.at(file_index).size_at_open_bytes;
  }
  const std::string& path(uint32_t file_index) const override {
    return files_->files.at(file_index).path;
  }

 private:
  Status acquire(std::unique_ptr<Ring>* out) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (!free_.empty()) {
        *out = std::move(free_.back());
        free_.pop_back();
        return Status::ok();
      }
      if (n_rings_ < kMaxRings) {
        ++n_rings_;
        lock.unlock();
        int ret = create_ring(depth_, out);
        if (ret == 0) return Status::ok();
        lock.lock();
        --n_rings_;
        // Out of locked memory or ring slots: share the rings there are.
        if (n_rings_ == 0) {
          return Status::errorf("io_uring_queue_init: {}", std::strerror(-ret));
        }
      }
      ring_freed_.wait(lock);
    }
  }

  // `ring` null: the caller's ring broke and is destroyed; a waiter may create a new one.
  void release(std::unique_ptr<Ring> ring) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ring) {
        free_.push_back(std::move(ring));
      } else {
        --n_rings_;
      }
    }
    ring_freed_.notify_one();
  }

  std::vector<Chunk> plan(std::span<const ReadRequest> requests) const {
    std::vector<Chunk> chunks;
    for (const ReadRequest& r : requests) {
      const OpenedFile& f = files_->files[r.file_index];
      const uint64_t expected = expected_bytes(f, r);
      const uint64_t len = read_len_bytes(f, r);
      for (uint64_t pos = 0; pos < len; pos += chunk_bytes_) {
        Chunk c;
        c.file_index = r.file_index;
        c.file_offset = r.offset + pos;
        c.dst = static_cast<char*>(r.dst) + pos;
        c.len_bytes = std::min(chunk_bytes_, len - pos);
        c.expected_bytes = std::min(c.len_bytes, expected - pos);
        chunks.push_back(c);
      }
    }
    return chunks;
  }

  // Reads every chunk, at most depth_ in flight. On the first error it stops submitting and
  // waits for what is in flight: the kernel must be done with the caller's buffers (and the
  // ring must be empty for its next user) before read() returns.
  Status run(io_uring* ring, std::span<const ReadRequest> requests, bool* ring_broken) const {
    std::vector<Chunk> chunks = plan(requests);
    std::vector<size_t> ready;  // chunks to (re)submit, in order; reversed so pop_back is next
    ready.reserve(chunks.size());
    for (size_t i = chunks.size(); i-- > 0;) ready.push_back(i);
    Status first_error;
    auto fail = [&](Status s) {
      if (first_error.is_ok()) first_error = std::move(s);
    };
    uint32_t in_flight = 0;
    for (;;) {
      uint32_t queued = 0;
      while (first_error.is_ok() && !ready.empty() && in_flight + queued < depth_) {
        const Chunk& c = chunks[ready.back()];
        io_uring_sqe* sqe = io_uring_get_sqe(ring);
        if (!sqe) break;  // cannot happen with in_flight <= depth_ = SQ size; submit what we have
        const uint64_t remaining = c.len_bytes - c.done_bytes;
        io_uring_prep_read(sqe, files_->files[c.file_index].fd, c.dst + c.done_bytes,
                           static_cast<unsigned>(remaining), c.file_offset + c.done_bytes);
        io_uring_sqe_set_data64(sqe, ready.back());
        ready.pop_back();
        ++queued;
      }
      // Queued SQEs count as in flight at once: if io_uring_enter is interrupted before the
      // kernel takes them they stay in the SQ ring and go with the next submit.
      in_flight += queued;
      if (in_flight == 0) break;
      int ret = io_uring_submit_and_wait(ring, 1);
      if (ret < 0) {
        if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY) continue;
        // The ring itself failed: nothing more can be submitted or reaped reliably, so the
        // ring is dropped (closing it makes the kernel cancel and wait for what it holds).
        *ring_broken = true;
        fail(Status::errorf("{}: io_uring_enter: {}", files_->files[0].path, std::strerror(-ret)));
        return first_error;
      }
      unsigned head;
      unsigned n_seen = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(ring, head, cqe) {
        ++n_seen;
        --in_flight;
        const size_t idx = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
        Chunk& c = chunks[idx];
        const OpenedFile& f = files_->files[c.file_index];
        const int res = cqe->res;
        if (res < 0) {
          if (res == -EINTR || res == -EAGAIN) {
            ready.push_back(idx);
          } else {
            fail(read_error(f.path, c.file_offset + c.done_bytes, -res));
          }
          continue;
        }
        c.done_bytes += static_cast<uint64_t>(res);
        if (c.done_bytes >= c.expected_bytes) continue;  // complete (the tail is zeroed below)
        // Short: 0 is EOF; with O_DIRECT, a stop inside a block is EOF too. Anything else is a
        // partial transfer to resubmit.
        if (res == 0 || (f.direct && c.done_bytes % kDirectIoAlignBytes != 0)) {
          fail(short_read_error_fstat(f, c.file_offset, c.done_bytes, c.expected_bytes));
        } else {
          ready.push_back(idx);
        }
      }
      io_uring_cq_advance(ring, n_seen);
    }
    if (!first_error.is_ok()) return first_error;
    for (const ReadRequest& r : requests) {
      const uint64_t expected = expected_bytes(files_->files[r.file_index], r);
      if (expected < r.nbytes) {
        std::memset(static_cast<char*>(r.dst) + expected, 0, r.nbytes - expected);
      }
    }
    return Status::ok();
  }

  std::shared_ptr<const OpenedFiles> files_;
  const uint32_t depth_;
  const uint64_t chunk_bytes_;
  std::mutex mu_;
  std::condition_variable ring_freed_;
  std::vector<std::unique_ptr<Ring>> free_;  // guarded by mu_
  size_t n_rings_ = 0;                       // guarded by mu_: free plus lent out
};

}  // namespace

std::unique_ptr<NamedFileReader> make_uring_reader(std::shared_ptr<const OpenedFiles> files,
                                                   const ReaderOptions& opts, std::string* why) {
  std::unique_ptr<Ring> ring;
  int ret = create_ring(std::clamp<uint32_t>(opts.queue_depth, 1, kMaxQueueDepth), &ring);
  if (ret < 0) {
    *why = fmt::format("io_uring_queue_init: {}", std::strerror(-ret));
    return nullptr;
  }
  return std::make_unique<UringReader>(std::move(files), opts, std::move(ring));
}

}  // namespace strata::file_reader_internal
