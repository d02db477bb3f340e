#pragma once
// Internal: the regex pre-tokenizer of byte-level BPE (HF "Split" with behavior "Isolated",
// and ByteLevel's use_regex), on PCRE2 with UTF + UCP so \p{L}, \p{N} and \s are Unicode
// classes, JIT-compiled when the platform supports it. Input that is not valid UTF-8 never
// fails: PCRE2_MATCH_INVALID_UTF makes invalid bytes unmatchable, so they end up in the
// gaps between matches, which are pieces too.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata {

// GPT-2's split regex (also HF ByteLevel with use_regex = true).
extern const char* const kGpt2SplitRegex;
// Llama 3 (tokenizer.ggml.pre "llama-bpe") and Qwen2 ("qwen2"): as HF writes them.
extern const char* const kLlama3SplitRegex;
extern const char* const kQwen2SplitRegex;

// The split regexes llama.cpp uses for a GGUF tokenizer.ggml.pre name, and whether that
// vocabulary ignores merges for pre-tokens that are whole tokens (Llama 3). Returns an
// error for a name it does not know.
struct GgufPreTokenizer {
  std::vector<std::string> regexes;
  bool ignore_merges = false;
};
Result<GgufPreTokenizer> gguf_pre_tokenizer(const std::string& pre_name);

// A sequence of compiled regexes; each splits the pieces the previous one produced. Pieces
// are the matches and the text between matches, in order; together they cover the input.
// Immutable after compile(); split() is thread-safe.
class RegexSplitter {
 public:
  // An error quoting the pattern and the offset if one does not compile.
  static Result<RegexSplitter> compile(const std::vector<std::string>& patterns);

  // Appends the pieces of `text` to `pieces` (cleared first); views point into `text`.
  void split(std::string_view text, std::vector<std::string_view>* pieces) const;
  bool empty() const { return codes_.empty(); }

 private:
  struct Code;
  void split_one(const Code& code, std::string_view text,
                 std::vector<std::string_view>* pieces) const;
  std::vector<std::shared_ptr<const Code>> codes_;
};

}  // namespace strata
