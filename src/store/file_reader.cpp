// make_file_reader: opens the files (O_DIRECT when asked, falling back per file where the
// filesystem refuses it), picks the engine, and the pread engine itself. The io_uring engine
// is in file_reader_uring.cpp, the fault-injecting wrapper in file_reader_faulty.cpp.
#include "store/file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/check.h"
#include "core/units.h"
#include "store/file_reader_internal.h"

namespace strata {
namespace file_reader_internal {

// io_uring_prep_read takes a 32-bit length and pread(2) moves at most 0x7ffff000 bytes per
// call; 1 GiB chunks stay below both with room to spare.
constexpr uint64_t kMaxChunkBytes = 1ull << 30;

OpenedFiles::~OpenedFiles() {
  for (const OpenedFile& f : files) {
    if (f.fd >= 0) ::close(f.fd);
  }
}

std::string describe_files(const std::string& engine, const OpenedFiles& files,
                           const std::string& note) {
  std::string s = engine;
  const int n = static_cast<int>(files.files.size());
  if (!files.want_direct) {
    s += " (page cache)";
  } else if (files.n_direct_refused == 0) {
    s += "+O_DIRECT";
  } else if (files.n_direct_refused == n) {
    s += " (page cache: the filesystem refused O_DIRECT)";
  } else {
    s += fmt::format("+O_DIRECT (page cache for {} of {} files: the filesystem refused O_DIRECT)",
                     files.n_direct_refused, n);
  }
  if (!note.empty()) s += " (" + note + ")";
  return s;
}

void check_request(const OpenedFiles& files, const ReadRequest& r) {
  STRATA_CHECK(r.file_index < files.files.size(),
               "read of file index {} but the reader has {} files", r.file_index,
               files.files.size());
  STRATA_CHECK(r.nbytes == 0 || r.dst != nullptr, "read of {} bytes into a null buffer", r.nbytes);
  STRATA_CHECK(r.offset <= UINT64_MAX - r.nbytes, "read range overflows: offset {} + {} bytes",
               r.offset, r.nbytes);
  if (files.want_direct) {
    STRATA_CHECK(r.offset % kDirectIoAlignBytes == 0 && r.nbytes % kDirectIoAlignBytes == 0 &&
                     reinterpret_cast<uintptr_t>(r.dst) % kDirectIoAlignBytes == 0,
                 "direct read of {}: offset {}, {} bytes, dst {} must all be {}-byte aligned",
                 files.files[r.file_index].path, r.offset, r.nbytes, r.dst, kDirectIoAlignBytes);
  }
}

uint64_t expected_bytes(const OpenedFile& f, const ReadRequest& r) {
  if (r.offset >= f.size_at_open_bytes) return 0;
  return std::min(r.nbytes, f.size_at_open_bytes - r.offset);
}

uint64_t read_len_bytes(const OpenedFile& f, const ReadRequest& r) {
  const uint64_t expected = expected_bytes(f, r);
  if (!f.direct) return expected;
  return std::min(r.nbytes, align_up(expected, kDirectIoAlignBytes));
}

uint64_t effective_chunk_bytes(const OpenedFiles& files, uint64_t chunk_bytes) {
  uint64_t c = std::clamp<uint64_t>(chunk_bytes, 1, kMaxChunkBytes);
  // Rounded for every file when O_DIRECT was asked for: a chunk boundary inside a block would
  // make the next chunk's offset misaligned.
  if (files.want_direct) c = align_up(c, kDirectIoAlignBytes);
  return c;
}

Status read_error(const std::string& path, uint64_t offset, int err) {
  return Status::errorf("{}: read error at offset {}: {}", path, offset, std::strerror(err));
}

Status short_read_error(const std::string& path, uint64_t offset, uint64_t got_bytes,
                        uint64_t want_bytes, uint64_t size_now_bytes, uint64_t size_at_open_bytes) {
  const char* what = size_now_bytes < size_at_open_bytes ? "file shrank" : "short read";
  return Status::errorf(
      "{}: {}: read at offset {} returned {} of {} bytes (file is now {} bytes, was {} at open)",
      path, what, offset, got_bytes, want_bytes, size_now_bytes, size_at_open_bytes);
}

Status short_read_error_fstat(const OpenedFile& f, uint64_t offset, uint64_t got_bytes,
                              uint64_t want_bytes) {
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return Status::errorf(
        "{}: short read: read at offset {} returned {} of {} bytes, and fstat "
        "failed: {}",
        f.path, offset, got_bytes, want_bytes, std::strerror(errno));
  }
  return short_read_error(f.path, offset, got_bytes, want_bytes, static_cast<uint64_t>(st.st_size),
                          f.size_at_open_bytes);
}

namespace {

Result<std::shared_ptr<OpenedFiles>> open_files(const std::vector<std::string>& paths, bool direct,
                                                const ReaderHooks& hooks) {
  auto files = std::make_shared<OpenedFiles>();
  files->want_direct = direct;
  files->files.reserve(paths.size());
  for (const std::string& path : paths) {
    OpenedFile f;
    f.path = path;
    if (direct) {
      if (hooks.refuse_o_direct) {
        errno = EINVAL;
      } else {
        f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
      }
      if (f.fd >= 0) {
        f.direct = true;
      } else if (errno == EINVAL) {  // tmpfs before Linux 6.6, some FUSE and network mounts
        ++files->n_direct_refused;
      } else {
        return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
      }
    }
    if (f.fd < 0) f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
    files->files.push_back(f);  // owned from here: closed by ~OpenedFiles on any error below
    struct stat st {};
    if (::fstat(f.fd, &st) != 0)
      return Status::errorf("{}: cannot stat: {}", path, std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return Status::errorf("{}: not a regular file", path);
    files->files.back().size_at_open_bytes = static_cast<uint64_t>(st.st_size);
  }
  return files;
}

// pread(2) in chunks, one request after another. Thread-safe: pread is positional and the
// files are immutable after open. Shares the files with nothing but itself.
class PreadReader final : public NamedFileReader {
 public:
  PreadReader(std::shared_ptr<const OpenedFiles> files, uint64_t chunk_bytes, std::string note)
      : files_(std::move(files)),
        chunk_bytes_(effective_chunk_bytes(*files_, chunk_bytes)),
        note_(std::move(note)) {}

  Status read(std::span<const ReadRequest> requests) override {
    for (const ReadRequest& r : requests) check_request(*files_, r);
    for (const ReadRequest& r : requests) STRATA_TRY(read_one(r));
    return Status::ok();
  }
  std::string describe() const override { return describe_files("pread", *files_, note_); }
  uint64_t file_size(uint32_t file_index) const override {
    return files_->files.at(file_index).size_at_open_bytes;
  }
  const std::string& path(uint32_t file_index) const override {
    return files_->files.at(file_index).path;
  }

 private:
  Status read_one(const ReadRequest& r) const {
    const OpenedFile& f = files_->files[r.file_index];
    const uint64_t expected = expected_bytes(f, r);
    const uint64_t len = read_len_bytes(f, r);
    char* dst = static_cast<char*>(r.dst);
    for (uint64_t pos = 0; pos < len;) {
      const uint64_t chunk_len = std::min(chunk_bytes_, len - pos);
      // pos < expected here: chunks start block-aligned and len is expected rounded up.
      const uint64_t chunk_expected = std::min(chunk_len, expected - pos);
      uint64_t done = 0;
      while (done < chunk_expected) {
        ssize_t got = ::pread(f.fd, dst + pos + done, chunk_len - done,
                              static_cast<off_t>(r.offset + pos + done));
        if (got < 0) {
          if (errno == EINTR) continue;
          return read_error(f.path, r.offset + pos + done, errno);
        }
        if (got == 0) break;  // EOF
        done += static_cast<uint64_t>(got);
        // O_DIRECT stops inside a block only at EOF; asking again from a misaligned offset
        // would fail with EINVAL rather than say so.
        if (f.direct && done < chunk_len && done % kDirectIoAlignBytes != 0) break;
      }
      if (done < chunk_expected) {
        return short_read_error_fstat(f, r.offset + pos, done, chunk_expected);
      }
      pos += chunk_len;
    }
    // The file's tail block (O_DIRECT) and bytes past the size at open read as zeros, even if
    // the file has grown since.
    if (expected < r.nbytes) std::memset(dst + expected, 0, r.nbytes - expected);
    return Status::ok();
  }

  std::shared_ptr<const OpenedFiles> files_;
  uint64_t chunk_bytes_;
  std::string note_;
};

}  // namespace

Result<std::unique_ptr<FileReader>> make_file_reader_with_hooks(
    const std::vector<std::string>& paths, const ReaderOptions& opts, const ReaderHooks& hooks) {
  if (opts.engine != "auto" && opts.engine != "uring" && opts.engine != "pread") {
    return Status::errorf("unknown I/O engine '{}' (expected auto, uring or pread)", opts.engine);
  }
  STRATA_ASSIGN_OR_RETURN(std::shared_ptr<OpenedFiles> files,
                          open_files(paths, opts.direct, hooks));
  std::string note;
  if (opts.engine != "pread") {
    std::string why;
    std::unique_ptr<NamedFileReader> r = make_uring_reader(files, opts, &why);
    if (r) return std::unique_ptr<FileReader>(std::move(r));
    if (opts.engine == "uring") {
      return Status::errorf("io_uring is not available: {} (use the pread engine)", why);
    }
    note = "io_uring unavailable: " + why;
  }
  return std::unique_ptr<FileReader>(
      std::make_unique<PreadReader>(std::move(files), opts.chunk_bytes, note));
}

}  // namespace file_reader_internal

Result<std::unique_ptr<FileReader>> make_file_reader(const std::vector<std::string>& paths,
                                                     const ReaderOptions& opts) {
  return file_reader_internal::make_file_reader_with_hooks(paths, opts, {});
}

}  // namespace strata
