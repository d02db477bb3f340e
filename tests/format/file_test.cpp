// core/file: what opening and writing files does with inputs that are not plain regular files
// (FIFOs, devices, symlinks), zstd-compressed files, and temporaries left by dead writers.
#include "core/file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <chrono>
#include <filesystem>
#include <future>

#include "format/format_test_util.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using test_util::read_bytes;
using test_util::ScratchDir;
using test_util::write_bytes;

std::string zstd_compress(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// Opening a FIFO for reading would wait for a writer forever; it must be an error at once.
TEST(File, AFifoIsRefusedWithoutBlocking) {
  ScratchDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto opened = std::async(std::launch::async, [&] { return File::open(fifo).status(); });
  ASSERT_EQ(opened.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "File::open blocked on a FIFO";
  const Status s = opened.get();
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.message(), fifo + ": not a regular file (a FIFO)");
  auto dirs = File::open(dir.path());
  ASSERT_FALSE(dirs.is_ok());
  EXPECT_NE(dirs.status().message().find("a directory"), std::string::npos);
  auto dev = File::open("/dev/null");
  ASSERT_FALSE(dev.is_ok());
  EXPECT_NE(dev.status().message().find("a character device"), std::string::npos);
}

TEST(File, ReadDecompressedTakesPlainAndZstdFiles) {
  ScratchDir dir;
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "token " + std::to_string(i) + "\n";
  write_bytes(dir.file("plain.json"), text);
  write_bytes(dir.file("packed.json.zst"), zstd_compress(text));
  // Two frames one after the other decompress to their concatenation, as zstd -d does.
  write_bytes(dir.file("two.zst"), zstd_compress("abc") + zstd_compress("def"));
  auto plain = read_file_decompressed(dir.file("plain.json"));
  ASSERT_TRUE(plain.is_ok()) << plain.status().message();
  EXPECT_EQ(*plain, text);
  auto packed = read_file_decompressed(dir.file("packed.json.zst"));
  ASSERT_TRUE(packed.is_ok()) << packed.status().message();
  EXPECT_EQ(*packed, text);
  auto two = read_file_decompressed(dir.file("two.zst"));
  ASSERT_TRUE(two.is_ok()) << two.status().message();
  EXPECT_EQ(*two, "abcdef");
}

TEST(File, BadZstdDataIsAnErrorNamingTheFile) {
  ScratchDir dir;
  std::string text(1 << 20, 'x');
  const std::string z = zstd_compress(text);
  write_bytes(dir.file("truncated.zst"), z.substr(0, z.size() / 2));
  std::string corrupt = z;
  corrupt[z.size() / 2] ^= 0x5a;
  corrupt[z.size() - 3] ^= 0x5a;
  write_bytes(dir.file("corrupt.zst"), corrupt);
  auto t = read_file_decompressed(dir.file("truncated.zst"));
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().message(), dir.file("truncated.zst") + ": truncated zstd data");
  auto c = read_file_decompressed(dir.file("corrupt.zst"));
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find(dir.file("corrupt.zst")), std::string::npos);
  // A frame that expands past the limit stops at the limit: no allocation of its full size.
  write_bytes(dir.file("big.zst"), z);
  auto big = read_file_decompressed(dir.file("big.zst"), 4096);
  ASSERT_FALSE(big.is_ok());
  EXPECT_EQ(big.status().message(),
            dir.file("big.zst") + ": decompresses to more than the 4096 bytes allowed");
}

// Atomic replacement is for regular files: a device is refused (never replaced by a file),
// a symlink is written through.
TEST(AtomicFileWriter, RefusesDevicesAndWritesThroughSymlinks) {
  ScratchDir dir;
  auto dev = AtomicFileWriter::create("/dev/null");
  ASSERT_FALSE(dev.is_ok());
  EXPECT_EQ(dev.status().message(),
            "/dev/null: exists and is not a regular file; strata writes only regular files "
            "(atomically, through a temporary file)");
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  auto d = AtomicFileWriter::create(dir.path());
  EXPECT_FALSE(d.is_ok());

  write_bytes(dir.file("target.bin"), "old");
  fs::create_symlink("target.bin", dir.file("link.bin"));
  auto w = AtomicFileWriter::create(dir.file("link.bin"));
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  ASSERT_TRUE(w->write("new bytes", 9).is_ok());
  ASSERT_TRUE(w->commit().is_ok());
  EXPECT_TRUE(fs::is_symlink(dir.file("link.bin")));
  EXPECT_EQ(read_bytes(dir.file("target.bin")), "new bytes");
  // A dangling link is written through as well: the target is created.
  fs::create_symlink("created.bin", dir.file("dangling.bin"));
  auto w2 = AtomicFileWriter::create(dir.file("dangling.bin"));
  ASSERT_TRUE(w2.is_ok()) << w2.status().message();
  ASSERT_TRUE(w2->write("x", 1).is_ok());
  ASSERT_TRUE(w2->commit().is_ok());
  EXPECT_TRUE(fs::is_symlink(dir.file("dangling.bin")));
  EXPECT_EQ(read_bytes(dir.file("created.bin")), "x");
}

// An interrupted writer leaves "<name>.tmp.<pid>"; the next writer of that name removes the
// ones whose process is gone and leaves a live writer's alone.
TEST(AtomicFileWriter, RemovesTemporariesOfDeadWriters) {
  ScratchDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: its pid is now free
  const std::string dead = dir.file("pack.bin.tmp." + std::to_string(child));
  const std::string live = dir.file("pack.bin.tmp." + std::to_string(::getppid()));
  const std::string other = dir.file("other.bin.tmp." + std::to_string(child));
  for (const std::string& p : {dead, live, other}) write_bytes(p, "partial");
  auto w = AtomicFileWriter::create(dir.file("pack.bin"));
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  ASSERT_TRUE(w->commit().is_ok());
  EXPECT_FALSE(fs::exists(dead)) << "a dead writer's temporary stays";
  EXPECT_TRUE(fs::exists(live)) << "a live writer's temporary was removed";
  EXPECT_TRUE(fs::exists(other)) << "another file's temporary was removed";
}

}  // namespace
}  // namespace strata
