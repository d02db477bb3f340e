// Tokenizer::from_llama2c: llama2.c's tokenizer.bin format (export in tokenizer.py): u32
// max_token_length, then per token f32 score, u32 byte length, the bytes. Ids 0 <unk>,
// 1 BOS, 2 EOS, 3..258 the byte tokens <0x00>..<0xFF>. Pieces hold real spaces where
// SentencePiece writes "▁"; they are converted so one SentencePiece encoder serves both.
#include <cstring>

#include "core/file.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace strata {

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_llama2c(const std::string& path,
                                                           int32_t n_vocab) {
  // Real files are a few hundred KB (32000 tokens); 256 MiB means it is not one.
  STRATA_ASSIGN_OR_RETURN(const std::string data, read_file_to_string(path, 256ull << 20));
  auto read_u32 = [&](size_t off, uint32_t* v) {
    if (off + 4 > data.size()) return false;
    std::memcpy(v, data.data() + off, 4);
    return true;
  };
  uint32_t max_len = 0;
  if (!read_u32(0, &max_len)) {
    return Status::errorf("{}: truncated llama2.c tokenizer: no header", path);
  }
  if (max_len == 0 || max_len > 4096) {
    return Status::errorf("{}: not a llama2.c tokenizer: max_token_length {} (expected 1..4096)",
                          path, max_len);
  }
  SpmSpec spec;
  size_t off = 4;
  for (int32_t i = 0; n_vocab <= 0 ? off < data.size() : i < n_vocab; ++i) {
    uint32_t len = 0;
    if (off + 8 > data.size() || !read_u32(off + 4, &len)) {
      return Status::errorf(
          "{}: truncated llama2.c tokenizer: token {} at offset {} (expected "
          "{} tokens)",
          path, i, off, n_vocab);
    }
    float score;
    std::memcpy(&score, data.data() + off, 4);
    off += 8;
    if (len > max_len || off + len > data.size()) {
      return Status::errorf(
          "{}: token {} at offset {} has length {} (max_token_length {}, {} bytes left)", path, i,
          off - 8, len, max_len, data.size() - off);
    }
    std::string piece;
    piece.reserve(len + 8);
    for (uint32_t k = 0; k < len; ++k) {
      const char c = data[off + k];
      if (c == ' ') {
        piece += "\xE2\x96\x81";
      } else {
        piece.push_back(c);
      }
    }
    off += len;
    TokenType type = TokenType::kNormal;
    if (i == 0) {
      type = TokenType::kUnknown;
    } else if (i == 1 || i == 2) {
      type = TokenType::kControl;
    } else if (i <= 258 && byte_token_value(piece) == i - 3) {
      type = TokenType::kByte;
    }
    spec.tokens.push_back(std::move(piece));
    spec.scores.push_back(score);
    spec.types.push_back(type);
  }
  if (spec.tokens.size() < 3) {
    return Status::errorf("{}: llama2.c tokenizer with {} tokens (needs <unk>, BOS, EOS)", path,
                          spec.tokens.size());
  }
  // run.c: BOS is prepended by the caller, a dummy " " always goes first.
  spec.special.unk = 0;
  spec.special.bos = 1;
  spec.special.eos = 2;
  spec.special.add_bos = true;
  spec.add_space_prefix = true;
  return make_spm_tokenizer(std::move(spec), path);
}

}  // namespace strata
