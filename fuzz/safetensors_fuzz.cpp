// libFuzzer target: the safetensors header parser on arbitrary bytes. It must return a
// Status for every input: no crash, no sanitizer report, no leak, no uncaught exception.
//
// Each input is parsed twice: as a file, and as "JSON header, NUL, data" with a matching
// length prefix put in front, so that mutations of the JSON text (which shift its length)
// reach the tensor checks instead of stopping at the header-length check. Seeds of the
// second kind are the corpus files named *.json0data.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "format/safetensors.h"

namespace {

void parse_and_check(std::string_view bytes) {
  auto r = strata::parse_safetensors_bytes(bytes, "fuzz.safetensors");
  if (!r.is_ok()) return;
  // Every tensor's range must lie inside the input and its element count be computable.
  for (const strata::TensorInfo& t : r->index.tensors()) {
    if (t.offset > bytes.size() || t.nbytes > bytes.size() - t.offset) __builtin_trap();
    if (t.n_elements() < 0) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  parse_and_check(bytes);

  const size_t nul = bytes.find('\0');
  const std::string_view header = bytes.substr(0, nul);
  const std::string_view rest = nul == std::string_view::npos ? "" : bytes.substr(nul + 1);
  std::string file(8 + header.size() + rest.size(), '\0');
  const uint64_t header_bytes = header.size();
  std::memcpy(file.data(), &header_bytes, 8);
  std::memcpy(file.data() + 8, header.data(), header.size());
  std::memcpy(file.data() + 8 + header.size(), rest.data(), rest.size());
  parse_and_check(file);
  return 0;
}
