#pragma once
// Text <-> token ids. SentencePiece-style BPE (GGUF "llama" vocab, llama2.c tokenizer files)
// and byte-level BPE (GGUF "gpt2" vocab, Hugging Face tokenizer.json). A component of its
// own: depends only on core/ and format/.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "format/metadata.h"

namespace strata {

struct SpecialTokens {
  int32_t bos = -1, eos = -1, eot = -1, pad = -1, unk = -1;
  bool add_bos = false;
  bool add_eos = false;
};

// Immutable after construction; encode/decode are const and thread-safe.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // From GGUF-style metadata (tokenizer.ggml.* keys). `source` names the file in errors.
  static Result<std::unique_ptr<Tokenizer>> from_gguf_metadata(const Metadata& meta,
                                                               const std::string& source);
  // From a Hugging Face tokenizer.json, with tokenizer_config.json beside it when present.
  static Result<std::unique_ptr<Tokenizer>> from_tokenizer_json(const std::string& path);
  // From a llama2.c tokenizer file (tok512.bin, tokenizer.bin) for a model of `n_vocab`.
  static Result<std::unique_ptr<Tokenizer>> from_llama2c(const std::string& path, int32_t n_vocab);

  // "spm" or "bpe".
  virtual std::string kind() const = 0;
  virtual int32_t n_vocab() const = 0;
  virtual const SpecialTokens& special() const = 0;

  // Encodes `text`. Prepends BOS when `add_bos`. With `parse_special`, special/control
  // token text such as "<|begin_of_text|>" in `text` becomes its id; otherwise it is
  // tokenized as plain text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                      bool parse_special = false) const = 0;

  // The raw bytes a token stands for (byte tokens decode to their byte; control tokens to
  // ""). `prev` is the preceding token, for SentencePiece's leading-space rule.
  virtual std::string token_bytes(int32_t id, int32_t prev = -1) const = 0;
  // The token's text as stored in the vocabulary, for display.
  virtual std::string token_text(int32_t id) const = 0;
  // Concatenated token_bytes.
  std::string decode(const std::vector<int32_t>& ids) const;

  bool is_eog(int32_t id) const {
    return id >= 0 && (id == special().eos || id == special().eot);
  }
};

// Turns a stream of tokens into text that is always valid UTF-8: bytes of a character
// split across tokens are held back until it is complete. The concatenation of all
// push() results plus flush() equals the full decode (invalid sequences are passed through
// at flush time unchanged). Not thread-safe.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  std::string push(int32_t id);
  std::string flush();

 private:
  const Tokenizer& tok_;
  int32_t prev_ = -1;
  std::string pending_;
};

}  // namespace strata
