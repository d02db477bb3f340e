#include "core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace strata {

Result<File> File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::errorf("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::errorf("{}: not a regular file", path);
  }
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
    return Status::errorf("{}: read of {} bytes at offset {} runs past the end of the file ({} bytes)",
                          path_, n, offset, size_bytes_);
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

Result<AtomicFileWriter> AtomicFileWriter::create(const std::string& path) {
  AtomicFileWriter w;
  w.path_ = path;
  w.tmp_path_ = path + ".tmp." + std::to_string(::getpid());
  w.fd_ = ::open(w.tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w.fd_ < 0) return Status::errorf("{}: cannot create: {}", w.tmp_path_, std::strerror(errno));
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
