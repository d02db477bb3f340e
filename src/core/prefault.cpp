#include "core/prefault.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older headers lack the name
#endif

namespace strata {

namespace {
constexpr uint64_t kPageBytes = 4096;
}  // namespace

Prefaulter::Prefaulter(std::vector<MemoryRegion> regions, int threads, uint64_t chunk_bytes) {
  chunk_bytes = std::max(chunk_bytes, kPageBytes);
  for (const MemoryRegion& r : regions) {
    // madvise wants a page-aligned start: the part of the region from its first whole page.
    const auto addr = reinterpret_cast<uintptr_t>(r.p);
    const uintptr_t begin = (addr + kPageBytes - 1) & ~(kPageBytes - 1);
    const uintptr_t end = addr + r.nbytes;
    for (uintptr_t a = begin; a < end; a += chunk_bytes) {
      chunks_.push_back({reinterpret_cast<char*>(a), std::min<uint64_t>(chunk_bytes, end - a)});
    }
  }
  if (threads <= 0) {
    // Every hardware thread: the loading thread mostly waits for its reads, and where the
    // zeroing is slow (a VM whose host must back the pages too) it scales with the threads.
    const int hw = static_cast<int>(std::thread::hardware_concurrency());
    threads = std::clamp(hw, 1, 8);
  }
  threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), chunks_.size()));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

Prefaulter::~Prefaulter() {
  stop_.store(true, std::memory_order_relaxed);
  for (std::thread& t : threads_) t.join();
}

uint64_t Prefaulter::wait() {
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  return done_bytes_.load();
}

void Prefaulter::run() {
  while (!stop_.load(std::memory_order_relaxed)) {
    const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= chunks_.size()) return;
    const Chunk& c = chunks_[i];
    if (madvise(c.p, c.nbytes, MADV_POPULATE_WRITE) != 0) {
      // EINVAL: a kernel without it (every chunk would fail alike); ENOMEM and the rest: the
      // reads will fault the pages and report what is wrong themselves.
      if (errno == EINVAL) stop_.store(true, std::memory_order_relaxed);
      continue;
    }
    done_bytes_.fetch_add(c.nbytes, std::memory_order_relaxed);
  }
}

}  // namespace strata
