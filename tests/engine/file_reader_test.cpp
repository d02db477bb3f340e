// FileReader: every engine (io_uring, pread) with and without O_DIRECT reads the bytes that
// are in the file and zeros past its end; faults (injected and real) give errors that name
// the file, the offset and what went wrong.
#include "store/file_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/timer.h"
#include "engine/test_util.h"
#include "store/file_reader_internal.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

// 3 MiB + 1234: not a block multiple, so the last O_DIRECT block comes back short.
constexpr uint64_t kFileBytes = (3ull << 20) + 1234;
constexpr uint64_t kBlock = kDirectIoAlignBytes;

std::vector<char> pattern(uint64_t n, uint64_t seed) {
  std::vector<char> v(n);
  uint64_t x = seed;
  for (uint64_t i = 0; i < n; i += 8) {
    x += 0x9e3779b97f4a7c15ull;  // splitmix64
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(v.data() + i, &z, std::min<uint64_t>(8, n - i));
  }
  return v;
}

void write_file(const std::string& path, const std::vector<char>& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(f.good()) << path;
}

// 4096-aligned heap memory, as direct reads need.
struct AlignedBytes {
  explicit AlignedBytes(uint64_t n)
      : p(static_cast<char*>(std::aligned_alloc(
            kBlock, std::max<uint64_t>(kBlock, (n + kBlock - 1) / kBlock * kBlock)))),
        nbytes(n) {}
  ~AlignedBytes() { std::free(p); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  char* p;
  uint64_t nbytes;
};

// What a read of [offset, offset + n) must give: the file's bytes, then zeros. memcmp first:
// a byte loop alone makes the sanitizer builds several times slower.
::testing::AssertionResult matches(const std::vector<char>& data, uint64_t offset, const char* got,
                                   uint64_t n) {
  const uint64_t in_file = offset < data.size() ? std::min<uint64_t>(n, data.size() - offset) : 0;
  const bool same = (in_file == 0 || std::memcmp(got, data.data() + offset, in_file) == 0) &&
                    std::all_of(got + in_file, got + n, [](char c) { return c == 0; });
  if (same) return ::testing::AssertionSuccess();
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t at = offset + i;
    const char want = at < data.size() ? data[at] : 0;
    if (got[i] != want) {
      return ::testing::AssertionFailure()
             << "byte at file offset " << at << " is " << int(got[i]) << ", expected " << int(want);
    }
  }
  return ::testing::AssertionFailure() << "unreachable";
}

bool uring_available() {
  static const bool ok = [] {
    std::string dir = test::make_temp_dir("uring_probe");
    std::string path = dir + "/f";
    write_file(path, std::vector<char>(16));
    ReaderOptions o;
    o.engine = "uring";
    o.direct = false;
    bool r = make_file_reader({path}, o).is_ok();
    fs::remove_all(dir);
    return r;
  }();
  return ok;
}

std::vector<std::string> engines() {
  std::vector<std::string> e = {"pread"};
  if (uring_available()) e.push_back("uring");
  return e;
}

// Test files in each kind of directory there is: testing::TempDir() (may be tmpfs, which
// refuses O_DIRECT before Linux 6.6), the test binary's directory (a real disk), /dev/shm.
class FileReaderTest : public ::testing::Test {
 protected:
  struct Place {
    std::string dir;
    std::string path;
  };
  static void SetUpTestSuite() {
    data_ = new std::vector<char>(pattern(kFileBytes, 42));
    std::vector<std::string> roots = {::testing::TempDir()};
    roots.push_back(fs::read_symlink("/proc/self/exe").parent_path().string() + "/");
    if (::access("/dev/shm", W_OK) == 0) roots.push_back("/dev/shm/");
    places_ = new std::vector<Place>();
    for (const std::string& root : roots) {
      std::string tmpl = root + "strata_file_reader_XXXXXX";
      if (!::mkdtemp(tmpl.data())) continue;
      Place p{tmpl, tmpl + "/data.bin"};
      write_file(p.path, *data_);
      places_->push_back(p);
    }
  }
  static void TearDownTestSuite() {
    for (const Place& p : *places_) fs::remove_all(p.dir);
    delete places_;
    delete data_;
  }
  static const std::vector<char>& data() { return *data_; }
  static const std::vector<Place>& places() { return *places_; }

  static std::unique_ptr<FileReader> open(const std::string& path, const std::string& engine,
                                          bool direct, uint64_t chunk_bytes = 64 << 10) {
    ReaderOptions o;
    o.engine = engine;
    o.direct = direct;
    o.queue_depth = 4;
    o.chunk_bytes = chunk_bytes;  // small, so most reads are several chunks in flight
    auto r = make_file_reader({path}, o);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return r.is_ok() ? std::move(r).value() : nullptr;
  }

 private:
  static inline std::vector<char>* data_ = nullptr;
  static inline std::vector<Place>* places_ = nullptr;
};

TEST_F(FileReaderTest, ReadsRandomAlignedRangesWithEveryEngine) {
  ASSERT_FALSE(places().empty());
  std::mt19937_64 rng(7);
  const uint64_t n_blocks = kFileBytes / kBlock + 2;  // reach past EOF too
  AlignedBytes buf(1 << 20);
  for (const Place& place : places()) {
    for (const std::string& engine : engines()) {
      for (bool direct : {true, false}) {
        SCOPED_TRACE(place.path + " " + engine + (direct ? " direct" : " buffered"));
        auto r = open(place.path, engine, direct);
        ASSERT_TRUE(r);
        std::printf("[ reader   ] %s: %s\n", place.path.c_str(), r->describe().c_str());
        EXPECT_EQ(r->file_size(0), kFileBytes);
        for (int i = 0; i < 40; ++i) {
          const uint64_t offset = (rng() % n_blocks) * kBlock;
          const uint64_t nbytes = (1 + rng() % 256) * kBlock;  // up to 1 MiB
          std::memset(buf.p, 0xab, nbytes);
          ReadRequest req{0, offset, nbytes, buf.p};
          ASSERT_TRUE(r->read({&req, 1}).is_ok()) << offset << " +" << nbytes;
          ASSERT_TRUE(matches(data(), offset, buf.p, nbytes)) << offset << " +" << nbytes;
        }
        // The whole file in one request, and several requests in one call.
        AlignedBytes all(kFileBytes + kBlock);
        ReadRequest whole{0, 0, (kFileBytes + kBlock - 1) / kBlock * kBlock, all.p};
        ASSERT_TRUE(r->read({&whole, 1}).is_ok());
        ASSERT_TRUE(matches(data(), 0, all.p, whole.nbytes));
        std::vector<ReadRequest> batch;
        for (uint64_t k = 0; k < 8; ++k) {
          batch.push_back({0, (7 - k) * 3 * kBlock, 2 * kBlock, buf.p + k * 2 * kBlock});
        }
        ASSERT_TRUE(r->read(batch).is_ok());
        for (const ReadRequest& q : batch) {
          ASSERT_TRUE(matches(data(), q.offset, static_cast<char*>(q.dst), q.nbytes));
        }
      }
    }
  }
}

TEST_F(FileReaderTest, BufferedReadsNeedNoAlignment) {
  std::mt19937_64 rng(11);
  std::vector<char> buf(300001);
  for (const std::string& engine : engines()) {
    SCOPED_TRACE(engine);
    auto r = open(places()[0].path, engine, /*direct=*/false, /*chunk_bytes=*/10007);
    ASSERT_TRUE(r);
    for (int i = 0; i < 40; ++i) {
      const uint64_t offset = rng() % (kFileBytes + 100);
      const uint64_t nbytes = 1 + rng() % (buf.size() - 1);
      std::memset(buf.data(), 0xab, buf.size());
      ReadRequest req{0, offset, nbytes, buf.data() + 1};
      ASSERT_TRUE(r->read({&req, 1}).is_ok());
      ASSERT_TRUE(matches(data(), offset, buf.data() + 1, nbytes)) << offset << " +" << nbytes;
      EXPECT_EQ(buf[0], char(0xab));
      EXPECT_EQ(buf[1 + nbytes], char(0xab)) << "wrote past the request";
    }
  }
}

TEST_F(FileReaderTest, ZeroFillsTheTailPastEof) {
  const uint64_t last_block = kFileBytes / kBlock * kBlock;
  AlignedBytes buf(4 * kBlock);
  for (const Place& place : places()) {
    for (const std::string& engine : engines()) {
      for (bool direct : {true, false}) {
        SCOPED_TRACE(place.path + " " + engine + (direct ? " direct" : " buffered"));
        auto r = open(place.path, engine, direct);
        ASSERT_TRUE(r);
        // The last block (1234 bytes of data), then a block wholly past EOF.
        std::memset(buf.p, 0xab, 4 * kBlock);
        ReadRequest req{0, last_block - kBlock, 3 * kBlock, buf.p};
        ASSERT_TRUE(r->read({&req, 1}).is_ok());
        EXPECT_TRUE(matches(data(), req.offset, buf.p, req.nbytes));
        EXPECT_EQ(buf.p[kBlock + 1233], data()[kFileBytes - 1]);
        EXPECT_EQ(buf.p[kBlock + 1234], 0);
        EXPECT_EQ(buf.p[3 * kBlock], char(0xab)) << "wrote past the request";
        // Entirely past the end: zeros, no error.
        std::memset(buf.p, 0xab, kBlock);
        ReadRequest past{0, last_block + 8 * kBlock, kBlock, buf.p};
        ASSERT_TRUE(r->read({&past, 1}).is_ok());
        EXPECT_TRUE(matches(data(), past.offset, buf.p, kBlock));
      }
    }
  }
}

TEST_F(FileReaderTest, ConcurrentReadsFromSeveralThreads) {
  for (const std::string& engine : engines()) {
    SCOPED_TRACE(engine);
    auto r = open(places()[0].path, engine, /*direct=*/true, /*chunk_bytes=*/16 << 10);
    ASSERT_TRUE(r);
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(100 + t);
        AlignedBytes buf(256 << 10);
        for (int i = 0; i < 30; ++i) {
          const uint64_t offset = (rng() % (kFileBytes / kBlock + 1)) * kBlock;
          const uint64_t nbytes = (1 + rng() % 64) * kBlock;
          ReadRequest req{0, offset, nbytes, buf.p};
          if (!r->read({&req, 1}).is_ok() || !matches(data(), offset, buf.p, nbytes)) ++failures[t];
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  }
}

TEST_F(FileReaderTest, EngineSelection) {
  const std::string& path = places()[0].path;
  ReaderOptions o;
  o.engine = "auto";
  auto a = make_file_reader({path}, o);
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  if (uring_available()) {
    EXPECT_EQ((*a)->describe().rfind("io_uring", 0), 0u) << (*a)->describe();
  } else {
    EXPECT_NE((*a)->describe().find("io_uring unavailable"), std::string::npos) << (*a)->describe();
  }
  o.engine = "pread";
  o.direct = false;
  auto p = make_file_reader({path}, o);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ((*p)->describe(), "pread (page cache)");
  o.engine = "mmap";
  auto bad = make_file_reader({path}, o);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("unknown I/O engine 'mmap'"), std::string::npos);
  o.engine = "auto";
  auto missing = make_file_reader({path, path + ".nope"}, o);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find(path + ".nope: cannot open"), std::string::npos)
      << missing.status().message();
}

TEST_F(FileReaderTest, FallsBackWhenODirectIsRefused) {
  file_reader_internal::ReaderHooks hooks;
  hooks.refuse_o_direct = true;
  for (const std::string& engine : engines()) {
    ReaderOptions o;
    o.engine = engine;
    auto r = file_reader_internal::make_file_reader_with_hooks({places()[0].path}, o, hooks);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_NE((*r)->describe().find("page cache: the filesystem refused O_DIRECT"),
              std::string::npos)
        << (*r)->describe();
    AlignedBytes buf(8 * kBlock);
    ReadRequest req{0, kFileBytes / kBlock * kBlock - 4 * kBlock, 8 * kBlock, buf.p};
    ASSERT_TRUE((*r)->read({&req, 1}).is_ok());
    EXPECT_TRUE(matches(data(), req.offset, buf.p, req.nbytes));
  }
}

TEST_F(FileReaderTest, MisalignedDirectReadIsAProgrammingError) {
  // The default ("fast", fork-only) death test style on purpose: the "threadsafe" style re-runs
  // the binary, whose SetUpTestSuite would leave a set of test files behind per death check.
  auto r = open(places()[0].path, "pread", /*direct=*/true);
  ASSERT_TRUE(r);
  AlignedBytes buf(2 * kBlock);
  ReadRequest off_by_one{0, 1, kBlock, buf.p};
  EXPECT_DEATH((void)r->read({&off_by_one, 1}), "must all be 4096-byte aligned");
  ReadRequest bad_dst{0, 0, kBlock, buf.p + 512};
  EXPECT_DEATH((void)r->read({&bad_dst, 1}), "must all be 4096-byte aligned");
}

TEST_F(FileReaderTest, InjectedFaultsGiveTheRealErrors) {
  const std::string& path = places()[0].path;
  AlignedBytes buf(64 * kBlock);
  auto read_at = [&](FileReader& r, uint64_t offset, uint64_t nbytes) {
    ReadRequest req{0, offset, nbytes, buf.p};
    return r.read({&req, 1});
  };
  auto faulty = [&](const FaultPlan& plan) {
    return make_faulty_reader(open(path, "pread", /*direct=*/true), plan);
  };
  auto expect_error = [&](const Status& s, const std::string& want) {
    ASSERT_FALSE(s.is_ok()) << "expected an error containing: " << want;
    EXPECT_EQ(s.message().rfind(path + ": ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
  };

  FaultPlan eio;
  eio.eio_at_offset = 40000;
  auto r = faulty(eio);
  EXPECT_TRUE(read_at(*r, 0, 8 * kBlock).is_ok());  // [0, 32768) does not cover it
  expect_error(read_at(*r, 8 * kBlock, 4 * kBlock),
               "read error at offset 40000: Input/output error");
  EXPECT_NE(r->describe().find("EIO at 40000"), std::string::npos) << r->describe();

  FaultPlan shrt;
  shrt.short_at_offset = 10000;
  r = faulty(shrt);
  expect_error(read_at(*r, 8192, 4 * kBlock),
               fmt::format("short read: read at offset 8192 returned 1808 of 16384 bytes (file is "
                           "now {} bytes, was {} at open)",
                           kFileBytes, kFileBytes));

  FaultPlan shrink;
  shrink.shrink_to_bytes = 1 << 20;
  r = faulty(shrink);
  EXPECT_TRUE(read_at(*r, (1 << 20) - 16 * kBlock, 16 * kBlock).is_ok());
  expect_error(read_at(*r, (1 << 20) - 4 * kBlock, 8 * kBlock),
               fmt::format("file shrank: read at offset {} returned 16384 of 32768 bytes (file is "
                           "now 1048576 bytes, was {} at open)",
                           (1 << 20) - 4 * kBlock, kFileBytes));

  FaultPlan after;
  after.fail_after_reads = 2;
  r = faulty(after);
  EXPECT_TRUE(read_at(*r, 0, kBlock).is_ok());
  EXPECT_TRUE(read_at(*r, kBlock, kBlock).is_ok());
  expect_error(read_at(*r, 2 * kBlock, kBlock), "read error at offset 8192: Input/output error");
  expect_error(read_at(*r, 0, kBlock), "read error at offset 0: Input/output error");

  FaultPlan slow;
  slow.delay_ms = 30;
  r = faulty(slow);
  Stopwatch sw;
  EXPECT_TRUE(read_at(*r, 0, kBlock).is_ok());
  EXPECT_GE(sw.elapsed_s(), 0.029);
  EXPECT_TRUE(matches(data(), 0, buf.p, kBlock));

  // The real readers word EIO with the same function (a real shrink: the test below).
  EXPECT_EQ(file_reader_internal::read_error(path, 5, EIO).message(),
            path + ": read error at offset 5: Input/output error");
}

TEST_F(FileReaderTest, TruncatedAfterOpenSaysTheFileShrank) {
  for (const Place& place : places()) {
    for (const std::string& engine : engines()) {
      for (bool direct : {true, false}) {
        SCOPED_TRACE(place.path + " " + engine + (direct ? " direct" : " buffered"));
        const std::string path = place.dir + "/shrinking.bin";
        write_file(path, data());
        auto r = open(path, engine, direct);
        ASSERT_TRUE(r);
        const uint64_t new_size = (1 << 20) + 100;
        ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(new_size)), 0);
        AlignedBytes buf(64 * kBlock);
        // Below the new size: still fine.
        ReadRequest ok{0, 0, 64 * kBlock, buf.p};
        ASSERT_TRUE(r->read({&ok, 1}).is_ok());
        EXPECT_TRUE(matches(data(), 0, buf.p, ok.nbytes));
        // Across it: the chunk holding the new end comes back short.
        ReadRequest across{0, (1 << 20) - 16 * kBlock, 64 * kBlock, buf.p};
        Status s = r->read({&across, 1});
        ASSERT_FALSE(s.is_ok());
        EXPECT_EQ(s.message().rfind(path + ": file shrank: read at offset ", 0), 0u) << s.message();
        EXPECT_NE(s.message().find(
                      fmt::format("(file is now {} bytes, was {} at open)", new_size, kFileBytes)),
                  std::string::npos)
            << s.message();
        // Wholly past the new end.
        ReadRequest past{0, 2 << 20, 4 * kBlock, buf.p};
        s = r->read({&past, 1});
        ASSERT_FALSE(s.is_ok());
        EXPECT_NE(s.message().find(fmt::format(
                      "file shrank: read at offset {} returned 0 of 16384 bytes", 2 << 20)),
                  std::string::npos)
            << s.message();
        ::unlink(path.c_str());
      }
    }
  }
}

}  // namespace
}  // namespace strata
