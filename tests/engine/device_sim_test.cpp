// The simulated device's own parts: its arena allocator (capacity, coalescing, disjoint
// blocks) and its copy throttle (bandwidth and latency limits, teardown); and the CPU device's
// refusal of absurd sizes. Timing checks assert lower bounds only: upper bounds flake on a
// loaded machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backend/device.h"
#include "core/timer.h"
#include "core/units.h"
#include "engine/device_test_util.h"

namespace strata {
namespace {

using test::must_alloc;
using test::must_copy;
using test::random_bytes;
constexpr uint64_t kAlign = test::kPageAlign;

// ---- The sim device's arena. ----

TEST(DeviceSim, RefusesAboveCapacityNamingTheSizes) {
  auto dev = make_sim_device({.capacity_bytes = 256 * MiB});
  EXPECT_EQ(dev->stats().capacity_bytes, 256 * MiB);
  // Leave 80 MiB free in two holes, 60 MiB and 20 MiB, that do not touch.
  void* a = must_alloc(*dev, 60 * MiB);
  void* b = must_alloc(*dev, 20 * MiB);
  void* c = must_alloc(*dev, 60 * MiB);
  void* d = must_alloc(*dev, 20 * MiB);
  void* e = must_alloc(*dev, 96 * MiB);
  ASSERT_TRUE(a && b && c && d && e);
  EXPECT_EQ(dev->stats().used_bytes, 256 * MiB);
  auto full = dev->alloc(1);
  ASSERT_FALSE(full.is_ok());
  EXPECT_EQ(full.status().message(),
            "sim device: cannot allocate 1 B: 0 B free of 256.0 MiB (largest free block 0 B)");
  dev->free(a);
  dev->free(d);
  auto r = dev->alloc(120 * MiB);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(),
            "sim device: cannot allocate 120.0 MiB: 80.0 MiB free of 256.0 MiB "
            "(largest free block 60.0 MiB)");
  // Fragmentation: 70 MiB fails although 80 MiB are free; 60 MiB fits.
  EXPECT_FALSE(dev->alloc(70 * MiB).is_ok());
  void* a2 = must_alloc(*dev, 60 * MiB);
  EXPECT_EQ(a2, a);  // first fit reuses the lowest hole
  // Far above capacity, including sizes that would overflow rounding.
  EXPECT_FALSE(dev->alloc(300 * MiB).is_ok());
  EXPECT_FALSE(dev->alloc(UINT64_MAX).is_ok());
  // Freeing everything makes the whole capacity one block again.
  for (void* p : {a2, b, c, e}) dev->free(p);
  void* all = must_alloc(*dev, 256 * MiB);
  EXPECT_NE(all, nullptr);
  dev->free(all);
  EXPECT_EQ(dev->stats().used_bytes, 0u);
  EXPECT_EQ(dev->stats().peak_bytes, 256 * MiB);
}

TEST(DeviceSim, FreedNeighboursCoalesce) {
  // The arena is exactly full, so each large allocation below succeeds only if the freed
  // neighbours merged into one block. Both merge directions: A then B, and B then A.
  for (bool a_first : {true, false}) {
    auto dev = make_sim_device({.capacity_bytes = 3 * MiB});
    void* a = must_alloc(*dev, 1 * MiB);
    void* b = must_alloc(*dev, 1 * MiB);
    void* c = must_alloc(*dev, 1 * MiB);
    ASSERT_TRUE(a && b && c);
    EXPECT_FALSE(dev->alloc(kAlign).is_ok());
    if (a_first) {
      dev->free(a);
      dev->free(b);
    } else {
      dev->free(b);
      dev->free(a);
    }
    void* ab = must_alloc(*dev, 2 * MiB);
    EXPECT_EQ(ab, a);
    dev->free(ab);
    dev->free(c);  // merges with the block before it
    void* abc = must_alloc(*dev, 3 * MiB);
    EXPECT_EQ(abc, a);
    dev->free(abc);
  }
  // A block freed between two free blocks merges with both.
  auto dev = make_sim_device({.capacity_bytes = 3 * MiB});
  void* a = must_alloc(*dev, 1 * MiB);
  void* b = must_alloc(*dev, 1 * MiB);
  void* c = must_alloc(*dev, 1 * MiB);
  dev->free(a);
  dev->free(c);
  dev->free(b);
  EXPECT_NE(must_alloc(*dev, 3 * MiB), nullptr);
}

TEST(DeviceSim, RandomAllocFreeKeepsBlocksDisjoint) {
  constexpr uint64_t kCapacity = 8 * MiB;
  auto dev = make_sim_device({.capacity_bytes = kCapacity});
  std::mt19937 rng(7);
  std::map<uintptr_t, uint64_t> live;  // address -> rounded bytes
  uint64_t live_bytes = 0;
  int refusals = 0;
  for (int i = 0; i < 3000; ++i) {
    if (!live.empty() && rng() % 2 == 0) {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      live_bytes -= it->second;
      dev->free(reinterpret_cast<void*>(it->first));
      live.erase(it);
    } else {
      const uint64_t n = 1 + rng() % (512 * KiB);
      auto r = dev->alloc(n);
      if (!r.is_ok()) {
        ++refusals;
        EXPECT_NE(r.status().message().find("largest free block"), std::string::npos);
        continue;
      }
      const auto p = reinterpret_cast<uintptr_t>(r.value());
      const uint64_t bytes = (n + kAlign - 1) / kAlign * kAlign;
      ASSERT_EQ(p % kAlign, 0u);
      auto next = live.lower_bound(p);
      if (next != live.end()) {
        ASSERT_LE(p + bytes, next->first) << "overlaps the next block";
      }
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + prev->second, p) << "overlaps the previous block";
      }
      live.emplace(p, bytes);
      live_bytes += bytes;
    }
    ASSERT_EQ(dev->stats().used_bytes, live_bytes);
    ASSERT_LE(live_bytes, kCapacity);
  }
  EXPECT_GT(refusals, 0);  // the arena really filled up
  for (auto& [p, bytes] : live) dev->free(reinterpret_cast<void*>(p));
  EXPECT_NE(must_alloc(*dev, kCapacity), nullptr);  // fully coalesced again
}

// ---- The sim device's copy throttle. ----

TEST(DeviceSim, BandwidthLimitHolds) {
  // 64 MiB at 1 GB/s is at least 67.1 ms. Sixteen 4 MiB copies of one buffer, so the test
  // touches 8 MiB of memory, not 128.
  auto dev = make_sim_device({.capacity_bytes = 4 * MiB, .bandwidth_gbps = 1.0});
  constexpr int kCopies = 16;
  constexpr uint64_t kChunk = 4 * MiB;
  constexpr double kMinSeconds = kCopies * kChunk / 1e9;
  std::vector<uint8_t> host = random_bytes(kChunk, 6);
  void* dst = must_alloc(*dev, kChunk);
  ASSERT_NE(dst, nullptr);
  Stopwatch sw;
  std::shared_ptr<DeviceEvent> last;
  for (int i = 0; i < kCopies; ++i) last = must_copy(*dev, dst, host.data(), kChunk);
  ASSERT_TRUE(last && dev->compute_wait(*last).is_ok());
  EXPECT_GE(sw.elapsed_s(), kMinSeconds);
  const DeviceStats s = dev->stats();
  EXPECT_EQ(s.bytes_copied, kCopies * kChunk);
  EXPECT_GE(s.copy_busy_s, kMinSeconds);
  EXPECT_LE(s.bytes_copied / s.copy_busy_s, 1e9);  // measured throughput within the limit
  EXPECT_EQ(std::memcmp(dst, host.data(), kChunk), 0);
  dev->free(dst);
}

TEST(DeviceSim, BandwidthLimitHoldsForOneLargeCopy) {
  auto dev = make_sim_device({.bandwidth_gbps = 0.0625});
  constexpr uint64_t kBytes = 4 * MiB;  // 67.1 ms at 1/16 GB/s
  constexpr double kMinSeconds = kBytes / 0.0625e9;
  std::vector<uint8_t> host = random_bytes(kBytes, 7);
  void* dst = must_alloc(*dev, kBytes);
  ASSERT_NE(dst, nullptr);
  Stopwatch sw;
  auto e = must_copy(*dev, dst, host.data(), kBytes);
  ASSERT_TRUE(e && e->synchronize().is_ok());
  EXPECT_GE(sw.elapsed_s(), kMinSeconds);
  EXPECT_GE(dev->stats().copy_busy_s, kMinSeconds);
  EXPECT_EQ(std::memcmp(dst, host.data(), kBytes), 0);
  dev->free(dst);
}

TEST(DeviceSim, LatencyPerCopy) {
  auto dev = make_sim_device({.capacity_bytes = 1 * MiB, .latency_us = 1000});
  constexpr int kCopies = 20;  // 20 ms of latency in all
  std::vector<uint8_t> host(64, 3);
  void* dst = must_alloc(*dev, 64);
  ASSERT_NE(dst, nullptr);
  Stopwatch sw;
  std::shared_ptr<DeviceEvent> last;
  for (int i = 0; i < kCopies; ++i) last = must_copy(*dev, dst, host.data(), host.size());
  ASSERT_TRUE(last && last->synchronize().is_ok());
  EXPECT_GE(sw.elapsed_s(), kCopies * 1e-3);
  EXPECT_GE(dev->stats().copy_busy_s, kCopies * 1e-3);
  // A zero-byte copy moves nothing, so it pays no latency.
  auto zero = must_copy(*dev, nullptr, nullptr, 0);
  ASSERT_TRUE(zero && zero->synchronize().is_ok());
  dev->free(dst);
}

TEST(DeviceSim, DestructionCutsThrottleShort) {
  // 64 copies of 1 MiB at 0.01 GB/s would take 6.7 s of simulated time; the destructor drains
  // them at memcpy speed. (No upper bound is asserted; a hang would time the test out.)
  auto dev = make_sim_device({.capacity_bytes = 1 * MiB, .bandwidth_gbps = 0.01});
  std::vector<uint8_t> host(1 * MiB, 9);
  void* dst = must_alloc(*dev, host.size());
  ASSERT_NE(dst, nullptr);
  std::vector<std::shared_ptr<DeviceEvent>> events;
  for (int i = 0; i < 64; ++i) events.push_back(must_copy(*dev, dst, host.data(), host.size()));
  // A waiter on another thread is released by the drain too.
  std::thread waiter([e = events.back()] { EXPECT_TRUE(e->synchronize().is_ok()); });
  dev.reset();
  waiter.join();
  for (auto& e : events) EXPECT_TRUE(e && e->query());
}

TEST(DeviceCpu, AbsurdAllocationIsAnErrorNotACrash) {
  auto dev = make_cpu_device();
  EXPECT_EQ(dev->stats().capacity_bytes, 0u);  // unlimited
  auto r = dev->alloc(uint64_t{1} << 60);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("cpu device: cannot allocate"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(dev->alloc(UINT64_MAX).is_ok());
  EXPECT_FALSE(dev->alloc_pinned(UINT64_MAX).is_ok());
  EXPECT_EQ(dev->stats().used_bytes, 0u);
}

}  // namespace
}  // namespace strata
