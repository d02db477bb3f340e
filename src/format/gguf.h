#pragma once
// GGUF (v2, v3) reader: metadata of every value type, arrays, alignment, tensor infos.
// Spec: ggml/docs/gguf.md. Little-endian only.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "format/metadata.h"
#include "format/tensor_index.h"

namespace strata {

struct GgufFile {
  std::string path;
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // absolute offset of the tensor data section
  Metadata meta;
  TensorIndex index;         // one file; offsets absolute
};

// Parses the header, metadata and tensor infos of a GGUF file. Returns an error naming the
// file, the offset and what was expected if anything is malformed, truncated, absurdly
// sized, or a tensor's bytes run past the end of the file. Never aborts.
[[nodiscard]] Result<GgufFile> parse_gguf(const std::string& path);

// The same on bytes in memory (used by the fuzz target and tests); `name` is used in errors.
[[nodiscard]] Result<GgufFile> parse_gguf_bytes(std::string_view bytes, const std::string& name);

// ggml type id -> name ("F32", "Q4_K", ...); "type N" if unknown.
std::string ggml_type_name(uint32_t type);

}  // namespace strata
