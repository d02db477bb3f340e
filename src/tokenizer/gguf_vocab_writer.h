#pragma once
// Tokenizers as GGUF tokenizer.ggml.* metadata, as llama.cpp's converter writes them, so a
// model written as GGUF carries the vocabulary its Hugging Face directory has. Each result is
// checked to encode exactly like its source before it is returned.

#include <cstdint>
#include <string>

#include "core/status.h"
#include "format/metadata.h"

namespace strata {

// A Hugging Face tokenizer.json (plain or .zst, tokenizer_config.json beside it) as GGUF
// metadata for a model of `n_vocab` embedding rows. Byte-level BPE becomes a "gpt2"
// vocabulary with pre-tokenizer name `pre` ("llama-bpe", "qwen2"); SentencePiece-style BPE a
// "llama" vocabulary with scores. Ids the vocabulary does not use become unused "[PAD<id>]"
// tokens. tokenizer_config.json's chat_template, when it has one, becomes
// tokenizer.chat_template.
[[nodiscard]] Result<Metadata> gguf_vocab_from_tokenizer_json(const std::string& path,
                                                              const std::string& pre,
                                                              int64_t n_vocab);

// The tokenizer.ggml.* keys and tokenizer.chat_template of a GGUF file, as they are; an
// error unless it has `n_vocab` tokens.
[[nodiscard]] Result<Metadata> gguf_vocab_from_gguf(const std::string& path, int64_t n_vocab);

}  // namespace strata
