#pragma once
// Internal: byte-level BPE (GPT-2, Llama 3, Qwen2/3): GGUF tokenizer.ggml.model = "gpt2" and
// Hugging Face tokenizer.json with model.type "BPE" and a ByteLevel pre-tokenizer.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace strata {

// What the loaders extract; make_bpe_tokenizer() validates it.
struct BpeSpec {
  // Normal tokens in the byte-level printable form ("Ġthe"); control and user-defined
  // tokens raw ("<|eot_id|>"). Ids with no token (holes) are "" of type kUnused.
  std::vector<std::string> tokens;
  std::vector<TokenType> types;
  std::vector<std::pair<std::string, std::string>> merges;  // printable form, by rank
  std::vector<std::string> split_regexes;  // applied in order, each to the last one's pieces
  // Matcher entries with HF flags (lstrip/rstrip); when empty, every control, user-defined
  // and unknown token is matched with default flags.
  std::vector<AddedToken> added;
  bool add_prefix_space = false;  // ByteLevel add_prefix_space: " " before each text
  bool ignore_merges = false;     // a pre-token that is a whole token is emitted as is
  bool nfc = false;               // normalizer NFC (Qwen2/3)
  SpecialTokens special;
};

// Errors name `source`: empty vocabulary, duplicated tokens, a merge naming a token that is
// not in the vocabulary, a regex that does not compile, special ids out of range.
Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(BpeSpec spec, const std::string& source);

}  // namespace strata
