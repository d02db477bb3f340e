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

// Token types, numbered as GGUF's tokenizer.ggml.token_type (llama.cpp llama_token_type).
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // BOS, EOS, "<|eot_id|>": decode to "", matched only with parse_special
  kUserDefined = 4,  // HF non-special added tokens ("<think>"): always matched whole
  kUnused = 5,
  kByte = 6,  // SentencePiece byte fallback "<0x0A>"
};

// Ids are -1 when the vocabulary has no such token.
struct SpecialTokens {
  int32_t bos = -1, eos = -1, eot = -1, pad = -1, unk = -1;
  bool add_bos = false;  // the model's default for encode(add_bos)
  bool add_eos = false;  // the model's default; encode() never appends EOS itself
  // Every id that ends generation: eos, eot, and markers such as "<|eom_id|>",
  // "<|endoftext|>" found in the vocabulary (as llama.cpp's EOG set).
  std::vector<int32_t> eog;
};

// Immutable after construction; encode/decode are const and thread-safe.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // From GGUF-style metadata (tokenizer.ggml.* keys). `source` names the file in errors.
  static Result<std::unique_ptr<Tokenizer>> from_gguf_metadata(const Metadata& meta,
                                                               const std::string& source);
  // From a Hugging Face tokenizer.json (or a zstd-compressed one), with tokenizer_config.json
  // beside it when present.
  static Result<std::unique_ptr<Tokenizer>> from_tokenizer_json(const std::string& path);
  // From a llama2.c tokenizer file (tok512.bin, tokenizer.bin) for a model of `n_vocab`
  // tokens; n_vocab <= 0 reads every token in the file.
  static Result<std::unique_ptr<Tokenizer>> from_llama2c(const std::string& path, int32_t n_vocab);
  // Any of the above by looking at `path`: a GGUF file (its metadata), a tokenizer.json
  // (plain or zstd-compressed), a directory holding tokenizer.json, or else a llama2.c
  // tokenizer file, read for `llama2c_n_vocab` tokens (<= 0: all).
  static Result<std::unique_ptr<Tokenizer>> from_file(const std::string& path,
                                                      int32_t llama2c_n_vocab = 0);

  // "spm" or "bpe".
  virtual std::string kind() const = 0;
  virtual int32_t n_vocab() const = 0;
  virtual const SpecialTokens& special() const = 0;

  // Encodes `text`. Prepends BOS when `add_bos` and the vocabulary has one (special().add_bos
  // is the model's default); never appends EOS. With `parse_special`, control-token text
  // such as "<|begin_of_text|>" becomes its id; otherwise it is tokenized as plain text.
  // User-defined tokens (HF non-special added tokens such as "<think>") always match whole.
  // Never fails: any bytes, valid UTF-8 or not, encode to tokens that decode back to them
  // (byte-level BPE; SentencePiece with byte fallback), except where NFC normalization
  // (Qwen) or unknown tokens (SentencePiece without byte tokens) lose information.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                      bool parse_special = false) const = 0;

  // The raw bytes a token stands for (byte tokens decode to their byte; control and unused
  // tokens to "", the unknown token to its text). `prev` is the preceding token: for
  // SentencePiece with a dummy prefix, a piece's leading space is dropped at the start
  // (prev < 0) and after a control token such as BOS, as SentencePiece and run.c do.
  virtual std::string token_bytes(int32_t id, int32_t prev = -1) const = 0;
  // The token's text as stored in the vocabulary, for display ("" for an invalid id).
  virtual std::string token_text(int32_t id) const = 0;
  // kUndefined for an invalid id.
  virtual TokenType token_type(int32_t id) const = 0;
  // Concatenated token_bytes.
  std::string decode(const std::vector<int32_t>& ids) const;

  bool is_eog(int32_t id) const {
    if (id < 0) return false;
    const SpecialTokens& s = special();
    if (id == s.eos || id == s.eot) return true;
    for (int32_t e : s.eog) {
      if (e == id) return true;
    }
    return false;
  }
};

// Turns a stream of tokens into text that is always valid UTF-8 when the decoded bytes are:
// the bytes of a character split across tokens are held back until it is complete. Bytes
// that can never become valid UTF-8 (a stray continuation byte, a lead byte followed by a
// non-continuation) are passed through unchanged as soon as that is known, rather than
// replaced by U+FFFD, so that the concatenation of all push() results plus flush() always
// equals decode() of the same ids. flush() returns whatever is still held back (an
// incomplete sequence at the very end). Not thread-safe.
class StreamDecoder {
 public:
  // `prev`: the token before the first one pushed (the prompt's last token when streaming a
  // continuation), so SentencePiece's leading-space rule sees the right neighbour.
  explicit StreamDecoder(const Tokenizer& tok, int32_t prev = -1) : tok_(tok), prev_(prev) {}
  std::string push(int32_t id);
  std::string flush();

 private:
  const Tokenizer& tok_;
  int32_t prev_;
  std::string pending_;  // bytes of an incomplete trailing UTF-8 sequence
};

}  // namespace strata
