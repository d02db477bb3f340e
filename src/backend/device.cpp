// The CPU and simulated devices. Both keep device memory in host RAM and copy on a
// CopyEngine thread; they differ in where device memory comes from (separate aligned
// allocations vs. one fixed arena), whether it counts as host memory, and the copy throttle.

#include "backend/device.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "backend/copy_engine.h"
#include "core/check.h"
#include "core/log.h"
#include "core/units.h"

namespace strata {
namespace {

// Device and pinned allocations are page aligned, as cudaMalloc/cudaHostAlloc are (and
// O_DIRECT needs for reads straight into them).
constexpr uint64_t kAlignBytes = 4096;
constexpr uint64_t kHugePageBytes = 2ull << 20;

std::string pretty_bytes(uint64_t b) {
  if (b >= GiB) return fmt::format("{:.2f} GiB", b / double(GiB));
  if (b >= MiB) return fmt::format("{:.1f} MiB", b / double(MiB));
  if (b >= KiB) return fmt::format("{:.1f} KiB", b / double(KiB));
  return fmt::format("{} B", b);
}

uint64_t physical_ram_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return UINT64_MAX;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_bytes);
}

struct Usage {
  uint64_t used_bytes = 0;
  uint64_t peak_bytes = 0;
};

// Where a device's memory comes from. Sizes are rounded up to kAlignBytes and counted
// rounded. alloc(0) returns nullptr and free(nullptr) does nothing, as with cudaMalloc.
// Implementations are thread-safe.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual Result<void*> alloc(uint64_t nbytes) = 0;
  // p must be null or come from alloc() and not be freed yet: anything else aborts.
  virtual void free(void* p) = 0;
  // Whether [p, p + nbytes) lies inside one live allocation.
  virtual bool contains(const void* p, uint64_t nbytes) const = 0;
  virtual Usage usage() const = 0;
  virtual uint64_t capacity_bytes() const = 0;  // 0 = unlimited
};

// Each block a separate aligned host allocation, optionally page-locked with mlock (best
// effort: when RLIMIT_MEMLOCK or the OS refuses, the block stays pageable and that is logged
// once at debug level). Unlimited apart from the machine's RAM. Thread-safe: the lock guards
// only the bookkeeping; allocation, mlock and munlock run outside it. Frees blocks still
// allocated when destroyed.
class HostHeap final : public DeviceMemory {
 public:
  // owner names the memory in messages, e.g. "cpu device" or "sim device pinned memory".
  HostHeap(std::string owner, bool lock_pages)
      : owner_(std::move(owner)), lock_pages_(lock_pages) {}
  ~HostHeap() override {
    for (auto& [addr, block] : blocks_) release(reinterpret_cast<void*>(addr), block);
  }

  Result<void*> alloc(uint64_t nbytes) override {
    if (nbytes == 0) return static_cast<void*>(nullptr);
    if (nbytes > ram_bytes_) {
      return Status::errorf("{}: cannot allocate {}: more than the machine's {} of RAM", owner_,
                            pretty_bytes(nbytes), pretty_bytes(ram_bytes_));
    }
    const uint64_t bytes = align_up(nbytes, kAlignBytes);
    void* p = nullptr;
    if (bytes >= kHugePageBytes) {
      // Weights: start on a 2 MiB boundary and ask for transparent huge pages over the whole
      // 2 MiB chunks (the tail stays in 4 KiB pages, so nothing is used beyond `bytes`).
      // Fewer TLB misses when compute sweeps gigabytes, and 512x fewer first-touch faults;
      // on this project's VM each 4 KiB first touch cost ~4 us, 2.6 s for a 1B model.
      if (posix_memalign(&p, kHugePageBytes, bytes) != 0) p = nullptr;
      if (p != nullptr) (void)madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
    } else {
      p = std::aligned_alloc(kAlignBytes, bytes);
    }
    if (p == nullptr) {
      return Status::errorf("{}: cannot allocate {}: out of host memory", owner_,
                            pretty_bytes(nbytes));
    }
    Block block{bytes, false};
    int mlock_errno = 0;
    if (lock_pages_) {
      block.locked = mlock(p, bytes) == 0;
      if (!block.locked) mlock_errno = errno;
    }
    bool note_mlock_failure = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks_.emplace(reinterpret_cast<uintptr_t>(p), block);
      used_bytes_ += bytes;
      peak_bytes_ = std::max(peak_bytes_, used_bytes_);
      if (mlock_errno != 0 && !noted_mlock_failure_) {
        note_mlock_failure = noted_mlock_failure_ = true;
      }
    }
    if (note_mlock_failure) {
      STRATA_LOG_DEBUG(
          "{}: mlock of {} failed ({}); pinned buffers stay pageable (raise RLIMIT_MEMLOCK, "
          "ulimit -l, to lock them). Noted once.",
          owner_, pretty_bytes(bytes), std::strerror(mlock_errno));
    }
    return p;
  }

  void free(void* p) override {
    if (p == nullptr) return;
    Block block;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = blocks_.find(reinterpret_cast<uintptr_t>(p));
      STRATA_CHECK(it != blocks_.end(),
                   "{}: free of {}, which it did not allocate (or freed already)", owner_, p);
      block = it->second;
      blocks_.erase(it);
      used_bytes_ -= block.bytes;
    }
    release(p, block);
  }

  bool contains(const void* p, uint64_t nbytes) const override {
    const auto addr = reinterpret_cast<uintptr_t>(p);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.upper_bound(addr);
    if (it == blocks_.begin()) return false;
    --it;
    return addr - it->first <= it->second.bytes && nbytes <= it->second.bytes - (addr - it->first);
  }

  Usage usage() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return {used_bytes_, peak_bytes_};
  }
  uint64_t capacity_bytes() const override { return 0; }

 private:
  struct Block {
    uint64_t bytes = 0;  // rounded up to kAlignBytes
    bool locked = false;
  };
  static void release(void* p, const Block& block) {
    if (block.locked) munlock(p, block.bytes);
    std::free(p);
  }

  const std::string owner_;
  const bool lock_pages_;
  // Larger requests are refused up front: they cannot be backed, and sanitizers abort on
  // absurd sizes instead of returning null.
  const uint64_t ram_bytes_ = physical_ram_bytes();
  mutable std::mutex mu_;
  std::map<uintptr_t, Block> blocks_;  // guarded by mu_; by address, for contains()
  uint64_t used_bytes_ = 0;            // guarded by mu_
  uint64_t peak_bytes_ = 0;            // guarded by mu_
  bool noted_mlock_failure_ = false;   // guarded by mu_
};

// A fixed-capacity device memory: one block reserved up front (mmap, so untouched capacity
// costs no RAM) and carved first-fit from an address-ordered free list; a freed block merges
// with free neighbours. Fragmentation and out-of-memory therefore behave as on a real device:
// an allocation fails when no single free block is large enough, whatever the total free.
// Thread-safe (one lock; every operation is O(number of blocks) at worst).
class Arena final : public DeviceMemory {
 public:
  // owner names the memory in messages. If the reservation fails, every alloc() says why.
  Arena(std::string owner, uint64_t capacity_bytes)
      : owner_(std::move(owner)), capacity_bytes_(align_down(capacity_bytes, kAlignBytes)) {
    if (capacity_bytes_ == 0) return;
    void* p = mmap(nullptr, capacity_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      reserve_error_ = fmt::format("{}: could not reserve {} of host memory for the arena: {}",
                                   owner_, pretty_bytes(capacity_bytes_), std::strerror(errno));
      return;
    }
    base_ = static_cast<uint8_t*>(p);
    free_.emplace(0, capacity_bytes_);
  }
  ~Arena() override {
    if (base_ != nullptr) munmap(base_, capacity_bytes_);
  }

  Result<void*> alloc(uint64_t nbytes) override {
    if (nbytes == 0) return static_cast<void*>(nullptr);
    if (!reserve_error_.empty()) return Status::error(reserve_error_);
    std::lock_guard<std::mutex> lock(mu_);
    // nbytes <= capacity_bytes_ (a multiple of kAlignBytes) keeps align_up from overflowing.
    const uint64_t bytes = nbytes <= capacity_bytes_ ? align_up(nbytes, kAlignBytes) : 0;
    auto it = free_.begin();
    if (bytes != 0) {
      while (it != free_.end() && it->second < bytes) ++it;
    }
    if (bytes == 0 || it == free_.end()) {
      uint64_t largest_bytes = 0;
      for (const auto& [offset, size] : free_) largest_bytes = std::max(largest_bytes, size);
      return Status::errorf("{}: cannot allocate {}: {} free of {} (largest free block {})", owner_,
                            pretty_bytes(nbytes), pretty_bytes(capacity_bytes_ - used_bytes_),
                            pretty_bytes(capacity_bytes_), pretty_bytes(largest_bytes));
    }
    const uint64_t offset = it->first, free_bytes = it->second;
    free_.erase(it);
    if (free_bytes > bytes) free_.emplace(offset + bytes, free_bytes - bytes);
    used_.emplace(offset, bytes);
    used_bytes_ += bytes;
    peak_bytes_ = std::max(peak_bytes_, used_bytes_);
    return static_cast<void*>(base_ + offset);
  }

  void free(void* p) override {
    if (p == nullptr) return;
    const auto addr = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(base_);
    std::lock_guard<std::mutex> lock(mu_);
    auto used = addr >= base ? used_.find(addr - base) : used_.end();
    STRATA_CHECK(used != used_.end(),
                 "{}: free of {}, which it did not allocate (or freed already)", owner_, p);
    uint64_t offset = used->first, bytes = used->second;
    used_.erase(used);
    used_bytes_ -= bytes;
    // Merge with the free block that follows, then with the one that precedes.
    auto next = free_.lower_bound(offset);
    if (next != free_.end() && next->first == offset + bytes) {
      bytes += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += bytes;
        return;
      }
    }
    free_.emplace_hint(next, offset, bytes);
  }

  bool contains(const void* p, uint64_t nbytes) const override {
    const auto addr = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(base_);
    if (base_ == nullptr || addr < base) return false;
    const uint64_t offset = addr - base;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = used_.upper_bound(offset);
    if (it == used_.begin()) return false;
    --it;
    return offset - it->first <= it->second && nbytes <= it->second - (offset - it->first);
  }

  Usage usage() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return {used_bytes_, peak_bytes_};
  }
  uint64_t capacity_bytes() const override { return capacity_bytes_; }

 private:
  const std::string owner_;
  const uint64_t capacity_bytes_;  // a multiple of kAlignBytes
  uint8_t* base_ = nullptr;        // kAlignBytes aligned (mmap returns whole pages)
  std::string reserve_error_;      // set once in the constructor when mmap failed
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> free_;  // guarded by mu_; offset -> bytes, no two adjacent
  std::map<uint64_t, uint64_t> used_;  // guarded by mu_; offset -> bytes of live allocations
  uint64_t used_bytes_ = 0;            // guarded by mu_
  uint64_t peak_bytes_ = 0;            // guarded by mu_
};

// A device whose memory and copies live on the host: device memory from a DeviceMemory,
// pinned memory from a page-locking HostHeap, copies on a CopyEngine. Owns all three; all
// methods are thread-safe (each part locks for itself). Destruction drains queued copies
// first, then frees any memory still allocated.
class HostBackedDevice final : public Device {
 public:
  HostBackedDevice(std::string name, bool shares_host_memory, std::unique_ptr<DeviceMemory> memory,
                   const CopyEngineOptions& copy_opts)
      : name_(std::move(name)),
        shares_host_memory_(shares_host_memory),
        memory_(std::move(memory)),
        pinned_(name_ + " device pinned memory", /*lock_pages=*/true),
        copy_(copy_opts) {}
  ~HostBackedDevice() override {
    copy_.shutdown();  // queued copies still write into memory_, so drain before freeing it
  }

  std::string name() const override { return name_; }
  bool shares_host_memory() const override { return shares_host_memory_; }

  Result<void*> alloc(uint64_t nbytes) override { return memory_->alloc(nbytes); }
  void free(void* p) override { memory_->free(p); }
  Result<void*> alloc_pinned(uint64_t nbytes) override { return pinned_.alloc(nbytes); }
  void free_pinned(void* p) override { pinned_.free(p); }

  Result<std::shared_ptr<DeviceEvent>> copy_to_device_async(void* dst, const void* src,
                                                            uint64_t nbytes) override {
    if (nbytes > 0) {
      if (src == nullptr) {
        return Status::errorf("{} device: copy of {} from a null source", name_,
                              pretty_bytes(nbytes));
      }
      if (!memory_->contains(dst, nbytes)) {
        return Status::errorf(
            "{} device: copy destination {} (+{}) is not inside one allocation of this device",
            name_, dst, pretty_bytes(nbytes));
      }
    }
    return copy_.enqueue(dst, src, nbytes);
  }

  Status copy_to_host(void* dst, const void* src, uint64_t nbytes) override {
    if (nbytes == 0) return Status::ok();
    if (dst == nullptr) {
      return Status::errorf("{} device: copy of {} to a null host pointer", name_,
                            pretty_bytes(nbytes));
    }
    if (!memory_->contains(src, nbytes)) {
      return Status::errorf(
          "{} device: copy source {} (+{}) is not inside one allocation of this device", name_,
          src, pretty_bytes(nbytes));
    }
    return copy_.enqueue(dst, src, nbytes)->synchronize();
  }

  Status compute_wait(DeviceEvent& event) override { return event.synchronize(); }

  Result<std::shared_ptr<DeviceEvent>> record_compute() override {
    auto e = std::make_shared<CopyEvent>();
    e->complete(Status::ok());  // host compute has finished by the time anyone records
    return std::shared_ptr<DeviceEvent>(e);
  }

  // Compute on the host is finished before the store reuses a slot; an unfinished event
  // here would be a copy event, which the FIFO copy stream already orders.
  Status copy_wait(DeviceEvent&) override { return Status::ok(); }

  DeviceStats stats() const override {
    DeviceStats s;
    s.capacity_bytes = memory_->capacity_bytes();
    const Usage device = memory_->usage(), pinned = pinned_.usage();
    s.used_bytes = device.used_bytes;
    s.peak_bytes = device.peak_bytes;
    s.pinned_bytes = pinned.used_bytes;
    s.peak_pinned_bytes = pinned.peak_bytes;
    s.bytes_copied = copy_.bytes_copied();
    s.copy_busy_s = copy_.busy_s();
    return s;
  }

 private:
  const std::string name_;
  const bool shares_host_memory_;
  std::unique_ptr<DeviceMemory> memory_;
  HostHeap pinned_;
  CopyEngine copy_;  // last, so it is destroyed (drained) before the memory it writes to
};

}  // namespace

std::unique_ptr<Device> make_cpu_device() {
  return std::make_unique<HostBackedDevice>(
      "cpu", /*shares_host_memory=*/true,
      std::make_unique<HostHeap>("cpu device", /*lock_pages=*/false), CopyEngineOptions{});
}

std::unique_ptr<Device> make_sim_device(const SimDeviceOptions& opts) {
  std::unique_ptr<DeviceMemory> memory;
  if (opts.capacity_bytes > 0) {
    memory = std::make_unique<Arena>("sim device", opts.capacity_bytes);
  } else {
    memory = std::make_unique<HostHeap>("sim device", /*lock_pages=*/false);
  }
  CopyEngineOptions copy_opts;
  copy_opts.bandwidth_gbps = opts.bandwidth_gbps;
  copy_opts.latency_us = opts.latency_us;
  return std::make_unique<HostBackedDevice>("sim", /*shares_host_memory=*/false, std::move(memory),
                                            copy_opts);
}

#ifndef STRATA_CUDA
bool cuda_backend_built() { return false; }

Result<std::unique_ptr<Device>> make_cuda_device(const CudaDeviceOptions&) {
  return Status::error(
      "this build of strata has no CUDA backend (configure with -DSTRATA_CUDA=ON on a machine "
      "with the CUDA toolkit)");
}
#endif

}  // namespace strata
