#pragma once
// Files: bounds-checked positional reads, and atomic writes (temp file + fsync + rename).

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata {

// A read-only file opened by path. Reads are positional (pread) and thread-safe.
// Owns its descriptor; movable, not copyable.
class File {
 public:
  // Returns an error naming the path if it cannot be opened or is not a regular file.
  static Result<File> open(const std::string& path);
  File() = default;
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::string& path() const { return path_; }
  uint64_t size_bytes() const { return size_bytes_; }
  int fd() const { return fd_; }

  // Reads exactly `n` bytes at `offset`; an error naming the file if the range runs past
  // the end, the read fails or comes back short.
  Status read_at(uint64_t offset, void* dst, uint64_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_bytes_ = 0;
};

// Reads a whole (small) file into a string; an error naming the path otherwise.
Result<std::string> read_file_to_string(const std::string& path, uint64_t max_bytes = 1ull << 31);

// As read_file_to_string, but a file that starts with the zstd frame magic is decompressed
// (strata ships its large tokenizer files as .zst). `max_bytes` bounds the decompressed size,
// checked while decompressing, so a frame that claims or expands to more is an error, never an
// allocation of that size.
Result<std::string> read_file_decompressed(const std::string& path,
                                           uint64_t max_bytes = 1ull << 31);

// Writes a file atomically: data goes to "<path>.tmp.<pid>", is fsynced, then renamed over
// `path`, so an interrupted write never leaves a partial file under the final name. A symlink
// at `path` is written through (its target is replaced); anything else that is not a regular
// file (a device, a FIFO, a directory) is an error. Temporaries of dead writers beside `path`
// are removed.
class AtomicFileWriter {
 public:
  static Result<AtomicFileWriter> create(const std::string& path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();  // removes the temp file if commit() was not reached

  Status write(const void* data, uint64_t n);
  Status write_zeros(uint64_t n);
  uint64_t bytes_written() const { return bytes_written_; }
  Status commit();  // fsync, close, rename

 private:
  AtomicFileWriter() = default;
  std::string path_, tmp_path_;
  int fd_ = -1;
  uint64_t bytes_written_ = 0;
  bool committed_ = false;
};

}  // namespace strata
