#pragma once
// GPT-2's reversible byte <-> unicode mapping (openai/gpt-2 encoder.py bytes_to_unicode):
// byte-level BPE vocabularies store every token as printable characters, one per byte.
// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100..U+0143 in
// byte order (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).

#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

// The code point byte `b` is stored as.
uint32_t byte_to_unicode(uint8_t b);

// Raw bytes -> the vocabulary's printable form.
std::string bytes_to_unicode_string(std::string_view raw);

// The vocabulary's printable form -> raw bytes. Returns false if `mapped` is not valid UTF-8
// or holds a character outside the mapping (such a string is not a byte-level token).
bool unicode_string_to_bytes(std::string_view mapped, std::string* raw);

}  // namespace strata
