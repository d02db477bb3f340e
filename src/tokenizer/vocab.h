#pragma once
// Internal: the per-token tables both tokenizer kinds share, the matcher for added and
// special tokens, and the checks every loader runs. Not part of the public API.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace strata {

// A token that is matched as a whole in the input before any pre-tokenization or BPE:
// control tokens ("<|eot_id|>", matched only with parse_special) and user-defined / HF
// non-special added tokens ("<think>", always matched, as in HF and llama.cpp).
struct AddedToken {
  std::string text;  // raw bytes to match
  int32_t id = -1;
  bool special = true;  // matched only when parse_special
  bool lstrip = false;  // absorbs ASCII whitespace on its left (HF AddedToken.lstrip)
  bool rstrip = false;  // absorbs ASCII whitespace on its right
};

// A piece of the input: a token matched as a whole (id >= 0) or text [begin, end).
struct TextFragment {
  int32_t id = -1;
  size_t begin = 0, end = 0;
};

// Splits text at added tokens, leftmost-longest (as HF's Aho-Corasick matcher). Immutable
// after build(); split() is thread-safe.
class AddedTokenMatcher {
 public:
  void build(std::vector<AddedToken> tokens);
  bool empty() const { return tokens_.empty(); }
  // Appends the fragments of `text` to `out` (cleared first).
  void split(std::string_view text, bool parse_special, std::vector<TextFragment>* out) const;

 private:
  std::vector<AddedToken> tokens_;                     // longest first
  std::array<std::vector<uint32_t>, 256> by_first_{};  // first byte -> indices into tokens_
  bool any_non_special_ = false;
};

// Per-token tables. `bytes[i]` is what token i decodes to (empty for control tokens).
struct Vocab {
  std::vector<std::string> text;
  std::vector<std::string> bytes;
  std::vector<float> score;
  std::vector<TokenType> type;
  SpecialTokens special;
  AddedTokenMatcher added;

  int32_t size() const { return static_cast<int32_t>(text.size()); }
  bool valid_id(int64_t id) const { return id >= 0 && id < size(); }
};

// Fills special.eot (when unset) and special.eog from the token texts, the way llama.cpp
// does: "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", ...
void resolve_end_of_generation(const Vocab& vocab, SpecialTokens* special);

// The matcher entries for every control, user-defined and unknown token of `vocab`.
std::vector<AddedToken> added_tokens_from_types(const Vocab& vocab);

// SentencePiece's space mark, U+2581 "▁".
inline constexpr std::string_view kSpaceMark = "\xE2\x96\x81";
// `text` with every ' ' written as "▁", after a "▁" when `space_prefix`.
std::string escape_spaces(std::string_view text, bool space_prefix);
// `piece` with every "▁" written as ' '.
std::string unescape_space_marks(std::string_view piece);
// The bytes of token `id`, without the leading space a dummy prefix put there: SentencePiece
// drops it for the first piece, run.c and llama.cpp after BOS; here at the start (prev < 0)
// and after any control token, where encode() prepended one.
std::string_view without_dummy_prefix(const Vocab& vocab, int32_t id, int32_t prev);

// Parses "<0xAB>" into 0xAB; -1 if `text` is not a byte token name.
int byte_token_value(std::string_view text);

// Checks the special ids lie in the vocabulary: an error naming `source` otherwise.
Status check_special_ids(const Vocab& vocab, const std::string& source);

}  // namespace strata
