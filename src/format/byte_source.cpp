#include "format/byte_source.h"

#include <algorithm>

namespace strata {

namespace {
// Large enough that a 128k-token vocabulary parses in a few dozen preads.
constexpr uint64_t kCursorBufferBytes = 1 << 20;
}  // namespace

ByteCursor::ByteCursor(const File& file)
    : file_(&file), name_(file.path()), size_(file.size_bytes()) {}

ByteCursor::ByteCursor(std::string_view bytes, std::string name)
    : mem_(bytes), name_(std::move(name)), size_(bytes.size()) {}

Status ByteCursor::read(void* dst, uint64_t n, const char* what) {
  if (n > remaining()) {
    return Status::errorf("{}: truncated: {} needs {} bytes at offset {}, but only {} remain",
                          name_, what, n, pos_, remaining());
  }
  if (!file_) {
    std::memcpy(dst, mem_.data() + pos_, n);
    pos_ += n;
    return Status::ok();
  }
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    if (pos_ < buf_start_ || pos_ >= buf_start_ + buf_.size()) STRATA_TRY(fill(n));
    uint64_t in_buf = buf_start_ + buf_.size() - pos_;
    uint64_t take = std::min(in_buf, n);
    std::memcpy(out, buf_.data() + (pos_ - buf_start_), take);
    out += take;
    pos_ += take;
    n -= take;
  }
  return Status::ok();
}

Status ByteCursor::fill(uint64_t n) {
  uint64_t want = std::min<uint64_t>(std::max(n, kCursorBufferBytes), remaining());
  want = std::min(want, kCursorBufferBytes);
  buf_.resize(want);
  buf_start_ = pos_;
  return file_->read_at(pos_, buf_.data(), want);
}

Status ByteCursor::skip(uint64_t n, const char* what) {
  if (n > remaining()) {
    return Status::errorf("{}: truncated: {} needs {} bytes at offset {}, but only {} remain",
                          name_, what, n, pos_, remaining());
  }
  pos_ += n;
  return Status::ok();
}

}  // namespace strata
