// Prefaulter: pages of fresh anonymous memory are present (mincore) after it ran, with their
// contents zero, for regions that do and do not start on a page; stopping early is safe.

#include "core/prefault.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace strata {
namespace {

constexpr uint64_t kPage = 4096;

// Pages of [p, p + n) the kernel has in memory.
uint64_t resident_pages(char* p, uint64_t n) {
  std::vector<unsigned char> v((n + kPage - 1) / kPage);
  EXPECT_EQ(mincore(p, n, v.data()), 0);
  uint64_t k = 0;
  for (unsigned char b : v) k += b & 1;
  return k;
}

struct Mapping {
  explicit Mapping(uint64_t n) : n(n) {
    void* m = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(m, MAP_FAILED);
    p = m == MAP_FAILED ? nullptr : static_cast<char*>(m);
  }
  ~Mapping() {
    if (p != nullptr) munmap(p, n);
  }
  char* p;
  uint64_t n;
};

TEST(Prefaulter, FaultsInEveryPageOfEveryRegion) {
  Mapping a(24 * kPage), b(40 * kPage);
  ASSERT_NE(a.p, nullptr);
  ASSERT_NE(b.p, nullptr);
  ASSERT_EQ(resident_pages(a.p, a.n), 0u);
  ASSERT_EQ(resident_pages(b.p, b.n), 0u);
  // The second region starts inside a page: its first whole page on are faulted in.
  std::vector<MemoryRegion> regions = {{a.p, a.n}, {b.p + 100, b.n - 100}};
  Prefaulter f(regions, 2, 3 * kPage);
  const uint64_t done = f.wait();
  if (done == 0) GTEST_SKIP() << "this kernel has no MADV_POPULATE_WRITE (Linux < 5.14)";
  EXPECT_EQ(done, a.n + b.n - kPage);
  EXPECT_EQ(resident_pages(a.p, a.n), a.n / kPage);
  EXPECT_EQ(resident_pages(b.p + kPage, b.n - kPage), b.n / kPage - 1);
  for (uint64_t i = 0; i < a.n; i += 512) EXPECT_EQ(a.p[i], 0);
}

TEST(Prefaulter, StopsWhenDestroyedAndTakesEmptyRegions) {
  Mapping a(64 * kPage);
  ASSERT_NE(a.p, nullptr);
  { Prefaulter f({{a.p, a.n}, {nullptr, 0}}, 1, kPage); }  // destroyed at once: no hang, no crash
  Prefaulter none({}, 4);
  EXPECT_EQ(none.wait(), 0u);
}

}  // namespace
}  // namespace strata
