#include "tokenizer/byte_unicode.h"

#include <array>

#include "tokenizer/utf8.h"

namespace strata {
namespace {

struct ByteMaps {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 324> from_cp{};  // code points 0..323 -> byte, -1 if unmapped
  std::array<std::string, 256> to_utf8;
};

ByteMaps build_maps() {
  ByteMaps m;
  m.from_cp.fill(-1);
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
    m.to_cp[b] = cp;
    m.from_cp[cp] = static_cast<int16_t>(b);
    utf8::append(&m.to_utf8[b], cp);
  }
  return m;
}

const ByteMaps& maps() {
  static const ByteMaps kMaps = build_maps();  // immutable after first use
  return kMaps;
}

}  // namespace

uint32_t byte_to_unicode(uint8_t b) { return maps().to_cp[b]; }

std::string bytes_to_unicode_string(std::string_view raw) {
  const ByteMaps& m = maps();
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) out += m.to_utf8[static_cast<uint8_t>(c)];
  return out;
}

bool unicode_string_to_bytes(std::string_view mapped, std::string* raw) {
  const ByteMaps& m = maps();
  raw->clear();
  size_t i = 0;
  while (i < mapped.size()) {
    const size_t n = utf8::valid_sequence_len(mapped, i);
    if (n == 0) return false;
    const uint32_t cp = utf8::decode(mapped, i, n);
    if (cp >= m.from_cp.size() || m.from_cp[cp] < 0) return false;
    raw->push_back(static_cast<char>(m.from_cp[cp]));
    i += n;
  }
  return true;
}

}  // namespace strata
