#pragma once
// Safetensors reader (github.com/huggingface/safetensors): a u64 little-endian header length
// N, N bytes of JSON naming every tensor's dtype, shape and [begin, end) byte range relative
// to the data section that follows the header, and an optional "__metadata__" string map.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "format/tensor_index.h"

namespace strata {

// The reference implementation's limit; real headers are a few hundred KiB.
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100 * 1024 * 1024;

struct SafetensorsFile {
  std::string path;
  uint64_t header_bytes = 0;                    // N, the JSON length
  uint64_t data_offset = 0;                     // absolute offset of the data section: 8 + N
  std::map<std::string, std::string> metadata;  // "__metadata__"
  TensorIndex index;  // one file; tensors in file order (by offset); offsets absolute
};

// Parses the header of a safetensors file and checks every tensor against the file: valid
// JSON, known dtypes, non-negative shapes whose byte size (product × dtype size, no overflow)
// equals end − begin, begin ≤ end ≤ data size, no two tensors overlapping. F32/F16/BF16 map
// to a DType; the other safetensors dtypes (F64, I64, I32, I16, I8, U8, BOOL, F8_E4M3, ...)
// are kept with dtype = nullopt and their dtype_name, for callers to reject by name. Errors
// name the file, the tensor and what was wrong. Never aborts, never throws.
[[nodiscard]] Result<SafetensorsFile> parse_safetensors(const std::string& path);

// The same on bytes in memory (fuzz target, tests); `name` is used in errors.
[[nodiscard]] Result<SafetensorsFile> parse_safetensors_bytes(std::string_view bytes,
                                                              const std::string& name);

// Bits per element of a safetensors dtype name ("F16" -> 16, "F4" -> 4); nullopt if unknown.
std::optional<uint32_t> safetensors_dtype_bits(std::string_view dtype_name);

}  // namespace strata
