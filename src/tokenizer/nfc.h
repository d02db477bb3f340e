#pragma once
// Internal: Unicode Normalization Form C (UAX #15), for tokenizer.json normalizers of type
// "NFC" (Qwen2/3). Bytes that are not valid UTF-8 are passed through unchanged and act as
// boundaries.

#include <string>
#include <string_view>

namespace strata {

// True if `text` is certainly in NFC already (no character that NFC could change or
// combine): the common case, one table lookup per non-ASCII character.
bool nfc_quick_check(std::string_view text);

// The NFC form of `text`.
std::string nfc_normalize(std::string_view text);

}  // namespace strata
