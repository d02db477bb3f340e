// The device contract on the CPU, simulated and (in a -DSTRATA_CUDA=ON build, on a machine
// with a GPU) CUDA devices: memory accounting, copy correctness and FIFO order, compute/copy
// ordering, and teardown with copies queued; the sim device's own allocator and throttle are
// in device_sim_test.cpp. The contract tests touch device
// memory only through the interface (copies both ways), so they hold for a real GPU too.
// Timing checks assert lower bounds only: upper bounds flake on a loaded machine.
#include "backend/device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/timer.h"
#include "core/units.h"
#include "engine/device_test_util.h"

namespace strata {
namespace {

using test::fill_device;
using test::must_alloc;
using test::must_copy;
using test::random_bytes;
using test::read_back;
constexpr uint64_t kAlign = test::kPageAlign;
bool aligned(const void* p) { return test::page_aligned(p); }

// ---- Contract tests run on every kind of device. ----

enum class Kind { kCpu, kSimArena, kSimUnlimited, kSimThrottled, kCuda };

std::unique_ptr<Device> make(Kind kind) {
  SimDeviceOptions o;
  switch (kind) {
    case Kind::kCpu:
      return make_cpu_device();
    case Kind::kCuda: {
      auto d = make_cuda_device({});
      return d.is_ok() ? std::move(d).value() : nullptr;
    }
    case Kind::kSimArena:
      o.capacity_bytes = 64 * MiB;
      break;
    case Kind::kSimUnlimited:
      break;
    case Kind::kSimThrottled:
      o.capacity_bytes = 64 * MiB;
      o.bandwidth_gbps = 8;  // 8 MB takes 1 ms: queues build up, tests stay fast
      o.latency_us = 20;
      break;
  }
  return make_sim_device(o);
}

class DeviceContract : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kCuda && dev_ == nullptr) {
      GTEST_SKIP() << "no usable GPU: " << make_cuda_device({}).status().message();
    }
    ASSERT_NE(dev_, nullptr);
  }
  // CUDA hands out 256-byte aligned memory; the CPU and sim devices page-aligned memory.
  bool device_aligned(const void* p) const {
    const uintptr_t a = GetParam() == Kind::kCuda ? 256 : kAlign;
    return reinterpret_cast<uintptr_t>(p) % a == 0;
  }
  std::unique_ptr<Device> dev_ = make(GetParam());
};

TEST_P(DeviceContract, NameAndHostSharing) {
  switch (GetParam()) {
    case Kind::kCpu:
      EXPECT_EQ(dev_->name(), "cpu");
      EXPECT_TRUE(dev_->shares_host_memory());
      break;
    case Kind::kCuda:
      EXPECT_EQ(dev_->name().rfind("cuda:0 (", 0), 0u) << dev_->name();
      EXPECT_FALSE(dev_->shares_host_memory());
      break;
    default:
      EXPECT_EQ(dev_->name(), "sim");
      EXPECT_FALSE(dev_->shares_host_memory());
  }
}

TEST_P(DeviceContract, AllocFreeAndPeakAccounting) {
  void* a = must_alloc(*dev_, 1000);  // rounds up to one page
  void* b = must_alloc(*dev_, 3 * MiB);
  void* c = must_alloc(*dev_, 8192);
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(device_aligned(a) && device_aligned(b) && device_aligned(c));
  fill_device(*dev_, a, 1000, 1);  // the memory is real
  fill_device(*dev_, b, 3 * MiB, 2);
  EXPECT_EQ(read_back(*dev_, static_cast<char*>(b) + 3 * MiB - 1, 1)[0], 2);
  DeviceStats s = dev_->stats();
  EXPECT_EQ(s.used_bytes, 4096 + 3 * MiB + 8192);
  EXPECT_EQ(s.peak_bytes, s.used_bytes);
  dev_->free(b);
  s = dev_->stats();
  EXPECT_EQ(s.used_bytes, 4096 + 8192);
  EXPECT_EQ(s.peak_bytes, 4096 + 3 * MiB + 8192);  // the high-water mark stays
  dev_->free(a);
  dev_->free(c);
  dev_->free(nullptr);  // a no-op, as with cudaFree
  s = dev_->stats();
  EXPECT_EQ(s.used_bytes, 0u);
  EXPECT_EQ(s.peak_bytes, 4096 + 3 * MiB + 8192);
  EXPECT_EQ(s.pinned_bytes, 0u);
  auto zero = dev_->alloc(0);
  ASSERT_TRUE(zero.is_ok());
  EXPECT_EQ(zero.value(), nullptr);
}

TEST_P(DeviceContract, PinnedAllocationsAreAlignedAndCounted) {
  // 16 MiB is above the usual 8 MiB RLIMIT_MEMLOCK: mlock may fail, the allocation must not.
  void* a = nullptr;
  void* b = nullptr;
  {
    auto r = dev_->alloc_pinned(5000);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    a = r.value();
    auto r2 = dev_->alloc_pinned(16 * MiB);
    ASSERT_TRUE(r2.is_ok()) << r2.status().message();
    b = r2.value();
  }
  EXPECT_TRUE(aligned(a) && aligned(b));
  std::memset(a, 7, 5000);
  static_cast<uint8_t*>(b)[0] = static_cast<uint8_t*>(b)[16 * MiB - 1] = 7;
  DeviceStats s = dev_->stats();
  EXPECT_EQ(s.pinned_bytes, 8192 + 16 * MiB);
  EXPECT_EQ(s.peak_pinned_bytes, 8192 + 16 * MiB);
  EXPECT_EQ(s.used_bytes, 0u);  // pinned memory is host memory, not device memory
  dev_->free_pinned(b);
  dev_->free_pinned(a);
  dev_->free_pinned(nullptr);
  s = dev_->stats();
  EXPECT_EQ(s.pinned_bytes, 0u);
  EXPECT_EQ(s.peak_pinned_bytes, 8192 + 16 * MiB);
}

TEST_P(DeviceContract, CopiedBytesArriveIntact) {
  const uint64_t n = 3 * MiB + 123;  // odd size, odd offsets below
  std::vector<uint8_t> host = random_bytes(n, 1);
  auto* dst = static_cast<uint8_t*>(must_alloc(*dev_, n + 64));
  ASSERT_NE(dst, nullptr);
  fill_device(*dev_, dst, n + 64, 0);
  const uint64_t before = dev_->stats().bytes_copied;
  auto e1 = must_copy(*dev_, dst + 7, host.data() + 5, n - 5);
  ASSERT_NE(e1, nullptr);
  ASSERT_TRUE(dev_->compute_wait(*e1).is_ok());
  ASSERT_TRUE(e1->synchronize().is_ok());
  EXPECT_TRUE(e1->query());
  EXPECT_EQ(dev_->stats().bytes_copied - before, n - 5);
  EXPECT_GT(dev_->stats().copy_busy_s, 0.0);
  const std::vector<uint8_t> back = read_back(*dev_, dst, n + 64);
  EXPECT_EQ(std::memcmp(back.data() + 7, host.data() + 5, n - 5), 0);
  EXPECT_EQ(back[6], 0);
  EXPECT_EQ(back[7 + n - 5], 0);  // nothing past the end
  EXPECT_TRUE(e1->synchronize().is_ok());  // waiting again on a done event is fine
  dev_->free(dst);
}

TEST_P(DeviceContract, LastEventImpliesEarlierCopiesDone) {
  constexpr int kCopies = 64;
  constexpr uint64_t kChunk = 64 * KiB;
  std::vector<uint8_t> host = random_bytes(kCopies * kChunk, 2);
  auto* dst = static_cast<uint8_t*>(must_alloc(*dev_, host.size()));
  ASSERT_NE(dst, nullptr);
  std::vector<std::shared_ptr<DeviceEvent>> events;
  for (int i = 0; i < kCopies; ++i) {
    events.push_back(must_copy(*dev_, dst + i * kChunk, host.data() + i * kChunk, kChunk));
    ASSERT_NE(events.back(), nullptr);
  }
  ASSERT_TRUE(events.back()->synchronize().is_ok());
  for (int i = 0; i < kCopies; ++i) EXPECT_TRUE(events[i]->query()) << "copy " << i;
  EXPECT_EQ(dev_->stats().bytes_copied, host.size());
  EXPECT_EQ(read_back(*dev_, dst, host.size()), host);
  dev_->free(dst);
}

TEST_P(DeviceContract, ZeroByteCopyKeepsFifoOrder) {
  std::vector<uint8_t> host = random_bytes(2 * MiB, 3);
  void* dst = must_alloc(*dev_, host.size());
  ASSERT_NE(dst, nullptr);
  auto big = must_copy(*dev_, dst, host.data(), host.size());
  auto zero = must_copy(*dev_, nullptr, nullptr, 0);  // null pointers are fine with no bytes
  ASSERT_TRUE(big && zero);
  ASSERT_TRUE(zero->synchronize().is_ok());
  EXPECT_TRUE(big->query());  // completes only after everything queued before it
  // With nothing pending, a zero-byte copy completes at once.
  auto idle_zero = must_copy(*dev_, nullptr, nullptr, 0);
  ASSERT_NE(idle_zero, nullptr);
  EXPECT_TRUE(idle_zero->synchronize().is_ok());
  EXPECT_EQ(dev_->stats().bytes_copied, host.size());
  dev_->free(dst);
}

TEST_P(DeviceContract, BadCopiesAreErrorsNotCrashes) {
  std::vector<uint8_t> host(2 * kAlign, 1);
  void* dst = must_alloc(*dev_, kAlign);
  ASSERT_NE(dst, nullptr);
  auto past_end = dev_->copy_to_device_async(dst, host.data(), kAlign + 1);
  ASSERT_FALSE(past_end.is_ok());
  EXPECT_NE(past_end.status().message().find("not inside one allocation"), std::string::npos)
      << past_end.status().message();
  EXPECT_FALSE(dev_->copy_to_device_async(host.data(), host.data() + kAlign, 16).is_ok());
  EXPECT_FALSE(dev_->copy_to_device_async(nullptr, host.data(), 16).is_ok());
  EXPECT_FALSE(dev_->copy_to_device_async(dst, nullptr, 16).is_ok());
  dev_->free(dst);
  // Freed memory is no longer a valid destination.
  EXPECT_FALSE(dev_->copy_to_device_async(dst, host.data(), 16).is_ok());
  EXPECT_EQ(dev_->stats().bytes_copied, 0u);
}

TEST_P(DeviceContract, ConcurrentProducers) {
  constexpr int kThreads = 4, kCopiesPerThread = 50;
  constexpr uint64_t kChunk = 16 * KiB;
  const uint64_t total = uint64_t{kThreads} * kCopiesPerThread * kChunk;
  std::vector<uint8_t> host = random_bytes(total, 4);
  auto* dst = static_cast<uint8_t*>(must_alloc(*dev_, total));
  ASSERT_NE(dst, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::shared_ptr<DeviceEvent>> events;
      for (int i = 0; i < kCopiesPerThread; ++i) {
        const uint64_t off = (static_cast<uint64_t>(t) * kCopiesPerThread + i) * kChunk;
        auto r = dev_->copy_to_device_async(dst + off, host.data() + off, kChunk);
        if (!r.is_ok()) {
          ++failures[t];
          continue;
        }
        events.push_back(r.value());
        if (i % 8 == 0) failures[t] += !dev_->compute_wait(*events.back()).is_ok();
      }
      for (auto& e : events) failures[t] += !e->synchronize().is_ok();
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_EQ(dev_->stats().bytes_copied, total);
  EXPECT_EQ(read_back(*dev_, dst, total), host);
  dev_->free(dst);
}

TEST_P(DeviceContract, ConcurrentAllocFree) {
  constexpr int kThreads = 4, kRounds = 100;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < kRounds; ++i) {
        const uint64_t n = 1 + rng() % (64 * KiB);
        auto d = dev_->alloc(n);
        auto p = dev_->alloc_pinned(n);
        if (!d.is_ok() || !p.is_ok()) {
          ++failures[t];
          continue;
        }
        static_cast<uint8_t*>(p.value())[n - 1] = 1;  // pinned memory is host memory
        dev_->free(d.value());
        dev_->free_pinned(p.value());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  DeviceStats s = dev_->stats();
  EXPECT_EQ(s.used_bytes, 0u);
  EXPECT_EQ(s.pinned_bytes, 0u);
  EXPECT_GT(s.peak_bytes, 0u);
  EXPECT_LE(s.peak_bytes, uint64_t{kThreads} * 64 * KiB);
}

TEST_P(DeviceContract, DestructionWithCopiesQueuedDrains) {
  constexpr int kCopies = 16;
  constexpr uint64_t kChunk = 256 * KiB;
  std::vector<uint8_t> host = random_bytes(kCopies * kChunk, 5);
  void* dst = must_alloc(*dev_, host.size());  // left allocated: the device frees it
  ASSERT_NE(dst, nullptr);
  std::vector<std::shared_ptr<DeviceEvent>> events;
  for (int i = 0; i < kCopies; ++i) {
    events.push_back(must_copy(*dev_, static_cast<uint8_t*>(dst) + i * kChunk,
                               host.data() + i * kChunk, kChunk));
  }
  dev_.reset();
  // Every queued copy was performed and its event completed; the events outlive the device.
  for (auto& e : events) {
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(e->query());
    EXPECT_TRUE(e->synchronize().is_ok());
  }
}

// Freeing memory the device did not hand out is a programming error: it aborts.
void expect_foreign_frees_abort(Device& dev) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the device runs a copy thread
  alignas(4096) static uint8_t not_device_memory[4096];
  EXPECT_DEATH(dev.free(not_device_memory), "did not allocate");
  EXPECT_DEATH(dev.free_pinned(not_device_memory), "did not allocate");
  void* p = must_alloc(dev, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(dev.free_pinned(p), "did not allocate");  // device memory is not pinned
  dev.free(p);
  EXPECT_DEATH(dev.free(p), "freed already");
}

TEST(DeviceCpu, FreeOfForeignPointerAborts) { expect_foreign_frees_abort(*make_cpu_device()); }

TEST(DeviceSim, FreeOfForeignPointerAborts) {
  expect_foreign_frees_abort(*make_sim_device({.capacity_bytes = 1 * MiB}));
}

std::string kind_name(const ::testing::TestParamInfo<Kind>& info) {
  switch (info.param) {
    case Kind::kCpu:
      return "cpu";
    case Kind::kSimArena:
      return "sim_arena";
    case Kind::kSimUnlimited:
      return "sim_unlimited";
    case Kind::kSimThrottled:
      return "sim_throttled";
    case Kind::kCuda:
      return "cuda";
  }
  return "unknown";
}

INSTANTIATE_TEST_SUITE_P(DeviceKinds, DeviceContract,
                         ::testing::Values(Kind::kCpu, Kind::kSimArena, Kind::kSimUnlimited,
                                           Kind::kSimThrottled),
                         kind_name);
#ifdef STRATA_CUDA
INSTANTIATE_TEST_SUITE_P(Gpu, DeviceContract, ::testing::Values(Kind::kCuda), kind_name);
#endif

TEST_P(DeviceContract, CopyToHostChecksItsSource) {
  std::vector<uint8_t> host(2 * kAlign, 1);
  void* dst = must_alloc(*dev_, kAlign);
  ASSERT_NE(dst, nullptr);
  Status past_end = dev_->copy_to_host(host.data(), dst, kAlign + 1);
  ASSERT_FALSE(past_end.is_ok());
  EXPECT_NE(past_end.message().find("not inside one allocation"), std::string::npos)
      << past_end.message();
  EXPECT_FALSE(dev_->copy_to_host(nullptr, dst, 16).is_ok());
  EXPECT_FALSE(dev_->copy_to_host(host.data(), host.data() + kAlign, 16).is_ok());
  EXPECT_TRUE(dev_->copy_to_host(nullptr, nullptr, 0).is_ok());
  dev_->free(dst);
}

TEST_P(DeviceContract, CopiesQueuedAfterACopyWaitOnComputeStillArrive) {
  auto done = dev_->record_compute();
  ASSERT_TRUE(done.is_ok()) << done.status().message();
  ASSERT_TRUE(dev_->copy_wait(*done.value()).is_ok());
  std::vector<uint8_t> host = random_bytes(1 * MiB, 9);
  void* dst = must_alloc(*dev_, host.size());
  ASSERT_NE(dst, nullptr);
  auto e = must_copy(*dev_, dst, host.data(), host.size());
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->synchronize().is_ok());
  EXPECT_TRUE(done.value()->synchronize().is_ok());
  EXPECT_TRUE(done.value()->query());
  EXPECT_EQ(read_back(*dev_, dst, host.size()), host);
  dev_->free(dst);
}

TEST(DeviceCuda, WithoutTheBackendOrAGpuMakingOneIsAClearError) {
  auto d = make_cuda_device({});
  if (d.is_ok()) {
    EXPECT_TRUE(cuda_backend_built());
    return;  // the GPU tests above cover it
  }
  const std::string m = d.status().message();
  EXPECT_TRUE(cuda_backend_built() ? m.find("cuda") != std::string::npos
                                   : m.find("no CUDA backend") != std::string::npos)
      << m;
}

#ifdef STRATA_CUDA
TEST(DeviceCuda, RefusesAboveCapacityAndRejectsForeignEvents) {
  auto d = make_cuda_device({.ordinal = 0, .capacity_bytes = 64 * MiB});
  if (!d.is_ok()) GTEST_SKIP() << "no usable GPU: " << d.status().message();
  Device& dev = **d;
  void* a = must_alloc(dev, 48 * MiB);
  ASSERT_NE(a, nullptr);
  auto too_much = dev.alloc(32 * MiB);
  ASSERT_FALSE(too_much.is_ok());
  EXPECT_NE(too_much.status().message().find("cannot allocate 32 MiB"), std::string::npos)
      << too_much.status().message();
  EXPECT_FALSE(make_cuda_device({.ordinal = 1000}).is_ok());
  // An event of another device cannot order this device's compute stream.
  auto cpu = make_cpu_device();
  auto cpu_mem = cpu->alloc(16);
  ASSERT_TRUE(cpu_mem.is_ok());
  uint8_t byte = 1;
  auto foreign = cpu->copy_to_device_async(cpu_mem.value(), &byte, 1);
  ASSERT_TRUE(foreign.is_ok());
  EXPECT_FALSE(dev.compute_wait(*foreign.value()).is_ok());
  EXPECT_FALSE(dev.copy_wait(*foreign.value()).is_ok());
  (void)foreign.value()->synchronize();
  cpu->free(cpu_mem.value());
  dev.free(a);
}
#endif

}  // namespace
}  // namespace strata
