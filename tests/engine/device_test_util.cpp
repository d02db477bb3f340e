#include "engine/device_test_util.h"

#include <cstring>

namespace strata::test {

std::vector<uint8_t> random_bytes(uint64_t n, uint64_t seed) {
  std::vector<uint64_t> words((n + 7) / 8);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& w : words) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64: fast enough for tens of MiB
    w = x;
  }
  std::vector<uint8_t> v(n);
  std::memcpy(v.data(), words.data(), n);
  return v;
}

void* must_alloc(Device& dev, uint64_t nbytes) {
  auto r = dev.alloc(nbytes);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? r.value() : nullptr;
}

std::shared_ptr<DeviceEvent> must_copy(Device& dev, void* dst, const void* src, uint64_t n) {
  auto r = dev.copy_to_device_async(dst, src, n);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? r.value() : nullptr;
}

std::vector<uint8_t> read_back(Device& dev, const void* src, uint64_t n) {
  std::vector<uint8_t> out(n, 0xEE);
  Status st = dev.copy_to_host(out.data(), src, n);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return out;
}

void fill_device(Device& dev, void* dst, uint64_t n, uint8_t byte) {
  std::vector<uint8_t> host(n, byte);
  auto e = must_copy(dev, dst, host.data(), n);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->synchronize().is_ok());
}

}  // namespace strata::test
