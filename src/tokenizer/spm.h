#pragma once
// Internal: SentencePiece-style BPE (GGUF tokenizer.ggml.model = "llama", llama2.c files).

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace strata {

// What the loaders extract; make_spm_tokenizer() validates it.
struct SpmSpec {
  std::vector<std::string> tokens;  // pieces, spaces written as U+2581 "▁"
  std::vector<float> scores;        // higher merges first
  std::vector<TokenType> types;
  SpecialTokens special;
  bool add_space_prefix = true;  // SentencePiece add_dummy_prefix
};

// Errors name `source`: empty vocabulary, duplicated pieces, a malformed byte token,
// special ids out of range.
Result<std::unique_ptr<Tokenizer>> make_spm_tokenizer(SpmSpec spec, const std::string& source);

}  // namespace strata
