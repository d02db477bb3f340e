#pragma once
// Reading weight bytes from disk: direct I/O (O_DIRECT, aligned) through io_uring where the
// kernel has it, a pread path otherwise, and a fault-injecting wrapper for tests.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "strata/options.h"

namespace strata {

// Bytes [offset, offset + nbytes) of file `file_index` into `dst`. For direct I/O the caller
// passes offset, nbytes and dst aligned to kDirectIoAlignBytes; bytes of the range that lie
// past the end of the file (the tail of the last block) are zero-filled.
struct ReadRequest {
  uint32_t file_index = 0;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
  void* dst = nullptr;
};

constexpr uint64_t kDirectIoAlignBytes = 4096;

// Reads model files. read() may be called from several threads at once.
class FileReader {
 public:
  virtual ~FileReader() = default;
  // Completes every request or returns an error naming the file, the offset and what went
  // wrong: EIO, a short read, or a file that shrank since it was opened.
  virtual Status read(std::span<const ReadRequest> requests) = 0;
  // e.g. "io_uring+O_DIRECT", "pread+O_DIRECT", "pread (page cache)".
  virtual std::string describe() const = 0;
  virtual uint64_t file_size(uint32_t file_index) const = 0;
};

[[nodiscard]] Result<std::unique_ptr<FileReader>> make_file_reader(
    const std::vector<std::string>& paths, const ReaderOptions& opts);

// Faults to inject, for tests. Offsets are absolute file offsets of file 0.. any file.
struct FaultPlan {
  int64_t eio_at_offset = -1;     // a read covering this offset fails with EIO
  int64_t short_at_offset = -1;   // a read covering this offset comes back short
  int64_t shrink_to_bytes = -1;   // the file behaves as if truncated to this size
  int64_t fail_after_reads = -1;  // the N-th read() call (0-based) and later fail with EIO
  double delay_ms = 0;            // added to every read() call
};
std::unique_ptr<FileReader> make_faulty_reader(std::unique_ptr<FileReader> inner,
                                               const FaultPlan& plan);

}  // namespace strata
