// libFuzzer target: a tokenizer.json (byte-level or SentencePiece-style BPE) on arbitrary
// bytes, then encoding and decoding a few texts with whatever loaded. Loading must return a
// Status for every input; encode/decode must not crash on any vocabulary that loaded.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_json_sax.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto t = strata::tokenizer_from_json_text(bytes, nlohmann::json(), "fuzz.json");
  if (!t.is_ok()) return 0;
  for (std::string_view text : {std::string_view("Hello world!  a\xc3\xa9\xff"),
                                std::string_view("<s> \xe2\x96\x81x\n\n 12345"),
                                std::string_view("")}) {
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = (*t)->encode(text, true, special);
      const std::string back = (*t)->decode(ids);
      if (back.size() == 424242) return 0;  // keeps `back` alive
    }
  }
  return 0;
}
