#pragma once
// Internal: BPE with ranked merges, as Hugging Face tokenizers' BPE model runs it. Two inputs:
// byte-level (GPT-2, Llama 3, Qwen2/3: GGUF tokenizer.ggml.model = "gpt2", tokenizer.json
// with a ByteLevel pre-tokenizer) and SentencePiece-style (Llama 2, Mistral, Gemma,
// TinyLlama: tokenizer.json with the Prepend/Replace "▁" normalizer or a Metaspace
// pre-tokenizer, byte fallback).

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
  enum class Input {
    // One symbol per byte; tokens and merges in the GPT-2 byte-to-unicode form.
    kByteLevel,
    // Spaces become "▁" (U+2581) and a dummy "▁" may be prepended (see Prepend); one symbol
    // per character; a character with no token becomes its <0xXX> byte tokens when
    // byte_fallback, else the unknown token (consecutive ones fused when fuse_unk). Tokens
    // and merges are pieces as written ("▁the"). Decoding maps "▁" to ' ' and, with a
    // dummy prefix, drops the leading space at the start and after a control token.
    kSentencePiece,
  };
  // Where the dummy "▁" goes, per text segment (the text between added tokens).
  enum class Prepend {
    kNone,
    kEvery,        // normalizer Prepend("▁") (legacy files): every non-empty segment
    kIfNoSpace,    // Metaspace prepend_scheme "always": a segment not starting with "▁"
    kFirstIfNoSpace,  // Metaspace "first": only a segment at the start of the input
  };
  Input input = Input::kByteLevel;
  Prepend prepend = Prepend::kNone;
  bool split_at_spaces = false;  // Metaspace split: each "▁" starts a new word
  bool byte_fallback = false;
  bool fuse_unk = false;

  // Byte-level: normal tokens in the printable form ("Ġthe"). SentencePiece: pieces as
  // written. Control and user-defined tokens raw ("<|eot_id|>", "<s>"). Ids with no token
  // (holes) are "" of type kUnused.
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
