// libFuzzer target: the GGUF header parser on arbitrary bytes. It must return a Status for
// every input: no crash, no sanitizer report, no leak, no allocation beyond the input's size.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "format/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto r = strata::parse_gguf_bytes(bytes, "fuzz.gguf");
  if (r.is_ok()) {
    // Touch what a loader reads, so a bogus index would show up under ASan/UBSan.
    uint64_t total = 0;
    for (const strata::TensorInfo& t : r->index.tensors()) {
      total += t.nbytes + static_cast<uint64_t>(t.n_elements()) + t.offset;
    }
    for (const auto& [key, value] : r->meta) total += value.to_display().size() + key.size();
    if (total == 42) return 0;  // keeps `total` alive
  }
  return 0;
}
