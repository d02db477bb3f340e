#pragma once
// Helpers for the format tests: scratch directories, whole-file I/O and a little-endian byte
// builder for hand-made (malformed) files.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace strata::test_util {

// A fresh directory under testing::TempDir(); removed with its contents on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `bytes` to `path` (plain, non-atomic: tests build malformed files on purpose).
// Aborts the test program on failure: a broken scratch directory makes every result moot.
void write_bytes(const std::string& path, std::string_view bytes);
std::string read_bytes(const std::string& path);

// Appends little-endian fields. GGUF strings are a u64 length, then the bytes.
class Bytes {
 public:
  template <typename T>
  Bytes& put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    s_.append(b, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& i32(int32_t v) { return put(v); }
  Bytes& f32(float v) { return put(v); }
  Bytes& raw(std::string_view b) {
    s_.append(b);
    return *this;
  }
  Bytes& gguf_str(std::string_view b) { return u64(b.size()).raw(b); }
  Bytes& zeros(size_t n) {
    s_.append(n, '\0');
    return *this;
  }
  Bytes& pad_to(size_t alignment) { return zeros((alignment - s_.size() % alignment) % alignment); }
  size_t size() const { return s_.size(); }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

}  // namespace strata::test_util
