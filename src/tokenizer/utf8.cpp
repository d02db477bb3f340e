#include "tokenizer/utf8.h"

namespace strata::utf8 {
namespace {

// Expected total length from the lead byte; 0 for bytes that can never start a sequence
// (continuation bytes, C0/C1 overlong leads, F5..FF).
size_t lead_len(uint8_t b) {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

// Valid range of the second byte given the lead (RFC 3629 table 3-7).
bool second_ok(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0:
      return b >= 0xA0 && b <= 0xBF;
    case 0xED:
      return b >= 0x80 && b <= 0x9F;
    case 0xF0:
      return b >= 0x90 && b <= 0xBF;
    case 0xF4:
      return b >= 0x80 && b <= 0x8F;
    default:
      return b >= 0x80 && b <= 0xBF;
  }
}

bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

}  // namespace

size_t valid_sequence_len(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = lead_len(p[i]);
  if (n <= 1) return n;
  if (i + n > s.size()) return 0;
  if (!second_ok(p[i], p[i + 1])) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (!is_cont(p[i + k])) return 0;
  }
  return n;
}

bool is_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = valid_sequence_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

size_t incomplete_tail_len(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  // The lead byte of an incomplete sequence is at most 3 bytes from the end.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const size_t i = s.size() - back;
    if (is_cont(p[i])) continue;
    const size_t n = lead_len(p[i]);
    if (n <= back) return 0;  // ASCII, invalid lead, or a complete sequence ends here
    if (back >= 2 && !second_ok(p[i], p[i + 1])) return 0;
    for (size_t k = 2; k < back; ++k) {
      if (!is_cont(p[i + k])) return 0;
    }
    return back;
  }
  return 0;
}

void append(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t decode(std::string_view s, size_t i, size_t len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + i;
  switch (len) {
    case 1:
      return p[0];
    case 2:
      return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    case 3:
      return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    default:
      return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
             (p[3] & 0x3Fu);
  }
}

}  // namespace strata::utf8
