// The thread pool's two splits: every index runs exactly once, in chunks of the promised
// shape, and parallel_for_dynamic gives a slow thread's share to the others.
#include "backend/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace strata {
namespace {

struct Chunks {
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> seen;
  void add(int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(b, e);
  }
  // The chunks sorted; they must tile [0, n) exactly.
  std::vector<std::pair<int64_t, int64_t>> tiling(int64_t n) {
    std::sort(seen.begin(), seen.end());
    int64_t at = 0;
    for (const auto& [b, e] : seen) {
      EXPECT_EQ(b, at) << "a gap or an overlap before " << b;
      EXPECT_LT(b, e);
      at = e;
    }
    EXPECT_EQ(at, n);
    return seen;
  }
};

TEST(ThreadPool, StaticSplitCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 100, 1001}) {
      Chunks c;
      pool.parallel_for(n, [&](int64_t b, int64_t e) { c.add(b, e); });
      const auto chunks = c.tiling(n);
      EXPECT_LE(static_cast<int64_t>(chunks.size()), threads) << "n " << n;
    }
  }
}

TEST(ThreadPool, DynamicSplitCoversEveryIndexOnceInAlignedChunks) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 15, 16, 17, 70, 2048, 128256}) {
      for (int rep = 0; rep < 20; ++rep) {  // the chunks race: run each case several times
        Chunks c;
        pool.parallel_for_dynamic(n, 16, 32, [&](int64_t b, int64_t e) { c.add(b, e); });
        const auto chunks = c.tiling(n);
        for (const auto& [b, e] : chunks) {
          EXPECT_EQ(b % 16, 0) << "n " << n << " chunk " << b << ".." << e;
          if (e != n) {
            EXPECT_GE(e - b, 32) << "n " << n << " chunk " << b << ".." << e;
          }
        }
        if (n >= 2048 && threads > 1) {  // one thread runs the range as one chunk
          // Shrinking chunks: the first is a 1/(2 x threads) share, not the whole range.
          EXPECT_LE(chunks[0].second, (n + 2 * threads - 1) / (2 * threads) + 16) << "n " << n;
        }
      }
    }
  }
}

TEST(ThreadPool, IndexedDynamicSplitNamesEachThreadOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 50; ++rep) {
      std::vector<std::atomic<int>> busy(threads);
      std::atomic<int> bad{0};
      std::atomic<int64_t> covered{0};
      pool.parallel_for_dynamic_indexed(500, 1, 1, [&](int64_t b, int64_t e, int thread) {
        if (thread < 0 || thread >= threads || busy[thread].exchange(1) != 0) {
          bad.fetch_add(1);
          return;
        }
        covered.fetch_add(e - b);
        std::this_thread::yield();  // give another thread the chance to claim the same index
        busy[thread].store(0);
      });
      EXPECT_EQ(bad.load(), 0) << threads << " threads";
      EXPECT_EQ(covered.load(), 500) << threads << " threads";
    }
  }
}

TEST(ThreadPool, DynamicSplitGivesASlowThreadsShareToTheOthers) {
  ThreadPool pool(2);
  const int64_t n = 1000;
  std::mutex mu;
  std::vector<std::pair<std::thread::id, int64_t>> ran;  // (thread, indices) per chunk
  std::thread::id slow;
  pool.parallel_for_dynamic(n, 1, 1, [&](int64_t b, int64_t e) {
    if (b == 0) {  // the first chunk's thread stalls, as a descheduled thread would
      {
        std::lock_guard<std::mutex> lock(mu);
        slow = std::this_thread::get_id();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::lock_guard<std::mutex> lock(mu);
    ran.emplace_back(std::this_thread::get_id(), e - b);
  });
  int64_t by_slow = 0, by_other = 0;
  for (const auto& [id, count] : ran) (id == slow ? by_slow : by_other) += count;
  EXPECT_EQ(by_slow + by_other, n);
  // The stalled thread ran only its first chunk, 1000 / (2 x 2 threads); the static split
  // would have kept half the range waiting for it.
  EXPECT_EQ(by_slow, 250);
  EXPECT_EQ(by_other, 750);
}

}  // namespace
}  // namespace strata
