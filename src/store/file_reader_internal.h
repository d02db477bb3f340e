#pragma once
// Private to src/store/file_reader*.cpp (and their tests): the pieces the pread engine, the
// io_uring engine and the fault-injecting wrapper share, so that all three plan reads the
// same way and word their errors identically.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/file_reader.h"

namespace strata::file_reader_internal {

// One opened file. `size_at_open_bytes` is the contract: bytes below it must be read, bytes
// at or past it are zero-filled.
struct OpenedFile {
  std::string path;
  int fd = -1;
  uint64_t size_at_open_bytes = 0;
  bool direct = false;  // opened with O_DIRECT (false when the filesystem refused it)
};

// Owns the descriptors of every file of a reader; closes them on destruction. Immutable
// after open_files(), so engines share it across threads without locks.
struct OpenedFiles {
  std::vector<OpenedFile> files;
  bool want_direct = false;  // the caller asked for O_DIRECT (so requests must be aligned)
  int n_direct_refused = 0;  // files the filesystem refused O_DIRECT for (EINVAL)
  OpenedFiles() = default;
  OpenedFiles(const OpenedFiles&) = delete;
  OpenedFiles& operator=(const OpenedFiles&) = delete;
  ~OpenedFiles();
};

// The readers of this family know their files' paths, which the fault-injecting wrapper needs
// to word its errors like the real ones. (FileReader itself does not expose paths.)
class NamedFileReader : public FileReader {
 public:
  virtual const std::string& path(uint32_t file_index) const = 0;
};

// Test hooks; production code passes the defaults.
struct ReaderHooks {
  bool refuse_o_direct = false;  // behave as if every open(O_DIRECT) failed with EINVAL
};

[[nodiscard]] Result<std::unique_ptr<FileReader>> make_file_reader_with_hooks(
    const std::vector<std::string>& paths, const ReaderOptions& opts, const ReaderHooks& hooks);

// "io_uring" / "pread" + the O_DIRECT state, for describe().
std::string describe_files(const std::string& engine, const OpenedFiles& files,
                           const std::string& note);

// Checks (STRATA_CHECK) the request's file index and, when O_DIRECT was asked for, its
// alignment: a violation is a bug in the caller, not bad input.
void check_request(const OpenedFiles& files, const ReadRequest& r);

// The bytes of `r` that lie below the file's size at open: they must come back from the
// kernel. The rest of [0, r.nbytes) is zero-filled by the engine.
uint64_t expected_bytes(const OpenedFile& f, const ReadRequest& r);
// How many bytes to ask the kernel for: expected_bytes rounded up to the direct I/O block
// (O_DIRECT lengths must be block multiples; the kernel stops at EOF).
uint64_t read_len_bytes(const OpenedFile& f, const ReadRequest& r);
// chunk_bytes rounded up to the direct I/O block when needed, and at least one block.
uint64_t effective_chunk_bytes(const OpenedFiles& files, uint64_t chunk_bytes);

// "<path>: read error at offset X: <strerror(err)>".
Status read_error(const std::string& path, uint64_t offset, int err);
// "<path>: file shrank: read at offset X returned N of M bytes (file is now S bytes, was T at
// open)". Worded "short read" instead of "file shrank" when S >= T (the file did not shrink).
Status short_read_error(const std::string& path, uint64_t offset, uint64_t got_bytes,
                        uint64_t want_bytes, uint64_t size_now_bytes, uint64_t size_at_open_bytes);
// short_read_error with the current size from fstat(2) of the file's descriptor.
Status short_read_error_fstat(const OpenedFile& f, uint64_t offset, uint64_t got_bytes,
                              uint64_t want_bytes);

// The io_uring engine; nullptr and *why set if the kernel refuses io_uring (ENOSYS, EPERM
// from seccomp or kernel.io_uring_disabled, ENOMEM from RLIMIT_MEMLOCK on old kernels).
std::unique_ptr<NamedFileReader> make_uring_reader(std::shared_ptr<const OpenedFiles> files,
                                                   const ReaderOptions& opts, std::string* why);

}  // namespace strata::file_reader_internal
