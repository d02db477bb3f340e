#include "core/file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

namespace strata {

Result<File> File::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. It has
  // no effect on regular files, and anything else is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::errorf("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::errorf("{}: not a regular file ({})", path,
                          S_ISDIR(st.st_mode)    ? "a directory"
                          : S_ISFIFO(st.st_mode) ? "a FIFO"
                          : S_ISCHR(st.st_mode)  ? "a character device"
                          : S_ISBLK(st.st_mode)  ? "a block device"
                          : S_ISSOCK(st.st_mode) ? "a socket"
                                                 : "not a file");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  File f;
  f.path_ = path;
  f.fd_ = fd;
  f.size_bytes_ = static_cast<uint64_t>(st.st_size);
  return f;
}

File::File(File&& other) noexcept { *this = std::move(other); }

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_bytes_ = other.size_bytes_;
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

Status File::read_at(uint64_t offset, void* dst, uint64_t n) const {
  if (offset > size_bytes_ || n > size_bytes_ - offset) {
    return Status::errorf(
        "{}: read of {} bytes at offset {} runs past the end of the file ({} bytes)", path_, n,
        offset, size_bytes_);
  }
  auto* p = static_cast<char*>(dst);
  uint64_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::errorf("{}: read error at offset {}: {}", path_, offset + done,
                            std::strerror(errno));
    }
    if (got == 0) {
      return Status::errorf("{}: short read at offset {} (file shrank?): wanted {} more bytes",
                            path_, offset + done, n - done);
    }
    done += static_cast<uint64_t>(got);
  }
  return Status::ok();
}

Result<std::string> read_file_to_string(const std::string& path, uint64_t max_bytes) {
  STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
  if (f.size_bytes() > max_bytes) {
    return Status::errorf("{}: file is {} bytes, more than the {} allowed", path, f.size_bytes(),
                          max_bytes);
  }
  std::string s(f.size_bytes(), '\0');
  STRATA_TRY(f.read_at(0, s.data(), s.size()));
  return s;
}

Result<std::string> read_file_decompressed(const std::string& path, uint64_t max_bytes) {
  // A compressed file is never larger than what it expands to (plus frame overhead).
  STRATA_ASSIGN_OR_RETURN(std::string raw, read_file_to_string(path, max_bytes + 1024));
  static constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  if (raw.size() < 4 || std::memcmp(raw.data(), kZstdMagic, 4) != 0) {
    if (raw.size() > max_bytes) {
      return Status::errorf("{}: file is {} bytes, more than the {} allowed", path, raw.size(),
                            max_bytes);
    }
    return raw;
  }
  std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> ds(ZSTD_createDStream(),
                                                              ZSTD_freeDStream);
  if (!ds) return Status::errorf("{}: cannot allocate a zstd decoder", path);
  std::string out;
  ZSTD_inBuffer in{raw.data(), raw.size(), 0};
  for (;;) {
    if (out.size() > max_bytes) {
      return Status::errorf("{}: decompresses to more than the {} bytes allowed", path, max_bytes);
    }
    const size_t chunk = std::min<uint64_t>(max_bytes + 1 - out.size(), 1 << 20);
    const size_t old = out.size();
    out.resize(old + chunk);
    ZSTD_outBuffer ob{out.data() + old, chunk, 0};
    const size_t ret = ZSTD_decompressStream(ds.get(), &ob, &in);
    out.resize(old + ob.pos);
    if (ZSTD_isError(ret)) {
      return Status::errorf("{}: corrupt zstd data: {}", path, ZSTD_getErrorName(ret));
    }
    if (ret == 0) {  // a frame ended
      if (in.pos == in.size) break;
      ZSTD_initDStream(ds.get());  // another frame follows
    } else if (in.pos == in.size && ob.pos < chunk) {
      return Status::errorf("{}: truncated zstd data", path);
    }
  }
  return out;
}

namespace {
// Removes "<name>.tmp.<pid>" files beside `path` whose writer process is gone: an interrupted
// convert of a 70B model would otherwise leave tens of GB behind per attempt. A live pid
// (even a reused one) keeps its file.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const std::string prefix = p.filename().string() + ".tmp.";
  std::error_code ec;
  fs::directory_iterator it(p.parent_path().empty() ? fs::path(".") : p.parent_path(), ec);
  if (ec) return;
  for (const fs::directory_entry& e : it) {
    const std::string name = e.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(e.path(), ec);
  }
}
}  // namespace

Result<AtomicFileWriter> AtomicFileWriter::create(const std::string& path_arg) {
  // Atomic replacement is for regular files: a symlink is written through (its target is
  // replaced, the link stays), and a device, FIFO, socket or directory is refused, never
  // replaced by a regular file.
  std::string path = path_arg;
  struct stat st {};
  for (int depth = 0; ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode); ++depth) {
    std::error_code ec;
    const std::filesystem::path target = std::filesystem::read_symlink(path, ec);
    if (ec || depth == 40) {
      return Status::errorf("{}: cannot resolve the symbolic link: {}", path_arg,
                            ec ? ec.message() : "too many levels");
    }
    path = target.is_absolute() ? target.string()
                                : (std::filesystem::path(path).parent_path() / target).string();
  }
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Status::errorf(
        "{}: exists and is not a regular file; strata writes only regular "
        "files (atomically, through a temporary file)",
        path_arg);
  }
  remove_stale_temporaries(path);
  AtomicFileWriter w;
  w.path_ = path;
  w.tmp_path_ = path + ".tmp." + std::to_string(::getpid());
  w.fd_ = ::open(w.tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w.fd_ < 0) {
    return Status::errorf("{}: cannot create (temporary file {}): {}", path_arg, w.tmp_path_,
                          std::strerror(errno));
  }
  return w;
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& o) noexcept
    : path_(std::move(o.path_)),
      tmp_path_(std::move(o.tmp_path_)),
      fd_(std::exchange(o.fd_, -1)),
      bytes_written_(o.bytes_written_),
      committed_(std::exchange(o.committed_, true)) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
}

Status AtomicFileWriter::write(const void* data, uint64_t n) {
  const char* p = static_cast<const char*>(data);
  uint64_t done = 0;
  while (done < n) {
    ssize_t put = ::write(fd_, p + done, n - done);
    if (put < 0) {
      if (errno == EINTR) continue;
      return Status::errorf("{}: write error: {}", tmp_path_, std::strerror(errno));
    }
    done += static_cast<uint64_t>(put);
  }
  bytes_written_ += n;
  return Status::ok();
}

Status AtomicFileWriter::write_zeros(uint64_t n) {
  static const char zeros[4096] = {};
  while (n > 0) {
    uint64_t chunk = n < sizeof(zeros) ? n : sizeof(zeros);
    STRATA_TRY(write(zeros, chunk));
    n -= chunk;
  }
  return Status::ok();
}

Status AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0) return Status::errorf("{}: fsync: {}", tmp_path_, std::strerror(errno));
  if (::close(std::exchange(fd_, -1)) != 0) {
    return Status::errorf("{}: close: {}", tmp_path_, std::strerror(errno));
  }
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return Status::errorf("{}: cannot rename to {}: {}", tmp_path_, path_, std::strerror(errno));
  }
  committed_ = true;
  return Status::ok();
}

}  // namespace strata
