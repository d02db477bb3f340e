#pragma once
// Helpers shared by the device tests: device memory is touched only through the Device
// interface, so the same checks hold for a real GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/device.h"

namespace strata::test {

constexpr uint64_t kPageAlign = 4096;
inline bool page_aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kPageAlign == 0; }

// n pseudo-random bytes (xorshift64), deterministic in `seed`.
std::vector<uint8_t> random_bytes(uint64_t n, uint64_t seed);
// dev.alloc / dev.copy_to_device_async that record a test failure (and return null) on error.
void* must_alloc(Device& dev, uint64_t nbytes);
std::shared_ptr<DeviceEvent> must_copy(Device& dev, void* dst, const void* src, uint64_t n);
// Device memory read back through copy_to_host.
std::vector<uint8_t> read_back(Device& dev, const void* src, uint64_t n);
// Sets device memory to `byte` through a host-to-device copy.
void fill_device(Device& dev, void* dst, uint64_t n, uint8_t byte);

}  // namespace strata::test
