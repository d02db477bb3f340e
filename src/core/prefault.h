#pragma once
// Faulting in freshly allocated memory ahead of the reads that fill it. The first touch of an
// anonymous page makes the kernel zero it; when direct I/O reads into a new buffer that zeroing
// happens inside the read's submission, on the one thread that loads the model, one page after
// another (on this project's VM, 0.5-2 GB/s: seconds for a model of a few GB). A Prefaulter
// has other threads fault the pages in (MADV_POPULATE_WRITE) in the order the reads will use
// them, so the zeroing runs on the other cores while the first regions are read.

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace strata {

struct MemoryRegion {
  char* p = nullptr;
  uint64_t nbytes = 0;
};

class Prefaulter {
 public:
  // Starts `threads` threads (0: one per hardware thread, at most 8) over
  // `regions`, in order, in chunks of `chunk_bytes`. Regions may be empty. Where the kernel
  // lacks MADV_POPULATE_WRITE (Linux < 5.14) the threads stop at once and the reads fault the
  // pages themselves, as without a Prefaulter.
  explicit Prefaulter(std::vector<MemoryRegion> regions, int threads = 0,
                      uint64_t chunk_bytes = 32ull << 20);
  // Stops the threads (chunks not yet begun are skipped) and joins them.
  ~Prefaulter();
  Prefaulter(const Prefaulter&) = delete;
  Prefaulter& operator=(const Prefaulter&) = delete;

  // Blocks until every chunk is done or skipped; returns the bytes faulted in (for tests).
  uint64_t wait();

 private:
  struct Chunk {
    char* p;
    uint64_t nbytes;
  };
  void run();

  std::vector<Chunk> chunks_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> done_bytes_{0};
  std::vector<std::thread> threads_;
};

}  // namespace strata
