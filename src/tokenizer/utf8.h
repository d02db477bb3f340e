#pragma once
// UTF-8 helpers for the tokenizers: sequence lengths, validation, the held-back tail of a
// stream. Strict RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata::utf8 {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not a
// complete valid sequence (invalid lead byte, bad continuation, overlong, truncated).
size_t valid_sequence_len(std::string_view s, size_t i);

// True if all of `s` is valid UTF-8.
bool is_valid(std::string_view s);

// Number of trailing bytes of `s` that are an incomplete but so far valid multi-byte
// sequence, i.e. bytes that may still become a valid character when more bytes arrive
// (0..3). Bytes that can never become valid are not counted.
size_t incomplete_tail_len(std::string_view s);

// Appends the UTF-8 encoding of code point `cp` (must be <= 0x10FFFF).
void append(std::string* out, uint32_t cp);

// Decodes the valid sequence of `len` bytes at s[i] (len from valid_sequence_len).
uint32_t decode(std::string_view s, size_t i, size_t len);

}  // namespace strata::utf8
