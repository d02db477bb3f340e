#pragma once
// Bounds-checked sequential reading over a file or an in-memory buffer, for parsers.
// Every read checks the remaining bytes first, so no allocation is ever sized by an
// unchecked header field: callers ask `remaining()` before reserving.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/file.h"
#include "core/status.h"

namespace strata {

// A cursor over `size` bytes read either from a File (buffered pread) or from memory.
// Not thread-safe.
class ByteCursor {
 public:
  ByteCursor(const File& file);                               // NOLINT
  ByteCursor(std::string_view bytes, std::string name);

  const std::string& name() const { return name_; }
  uint64_t pos() const { return pos_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - pos_; }

  // Errors name the source, the offset and `what` was being read.
  Status read(void* dst, uint64_t n, const char* what);
  template <typename T>
  Status read_pod(T* out, const char* what) { return read(out, sizeof(T), what); }
  Status skip(uint64_t n, const char* what);

 private:
  Status fill(uint64_t n);
  const File* file_ = nullptr;
  std::string_view mem_;
  std::string name_;
  uint64_t size_ = 0;
  uint64_t pos_ = 0;
  std::string buf_;        // file mode: bytes [buf_start_, buf_start_ + buf_.size())
  uint64_t buf_start_ = 0;
};

}  // namespace strata
