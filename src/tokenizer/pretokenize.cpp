#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenize.h"

#include <fmt/format.h>
#include <pcre2.h>

#include "tokenizer/utf8.h"

namespace strata {

const char* const kGpt2SplitRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Result<GgufPreTokenizer> gguf_pre_tokenizer(const std::string& name) {
  GgufPreTokenizer p;
  // Names as written by llama.cpp's convert_hf_to_gguf.py.
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3" || name == "falcon3") {
    p.regexes = {kLlama3SplitRegex};
    p.ignore_merges = true;
  } else if (name == "qwen2" || name == "deepseek-r1-qwen" || name == "stablelm2" ||
             name == "megrez") {
    p.regexes = {kQwen2SplitRegex};
  } else if (name == "gpt-2" || name == "gpt2" || name == "default" || name == "phi-2" ||
             name == "jina-es" || name == "jina-de" || name == "jina-v2-es" ||
             name == "jina-v2-de" || name == "jina-v2-code" || name == "roberta-bpe" ||
             name == "mpt" || name == "olmo") {
    // llama.cpp's "default" uses an odd regex set of its own; GPT-2's is what HF's
    // ByteLevel pre-tokenizer does, so that is what an unnamed vocabulary gets here.
    p.regexes = {kGpt2SplitRegex};
  } else if (name == "refact" || name == "starcoder") {
    p.regexes = {R"(\p{N})", kGpt2SplitRegex};  // digits one by one, then GPT-2
  } else {
    return Status::errorf(
        "unknown byte-level BPE pre-tokenizer '{}' (tokenizer.ggml.pre); known: llama-bpe, "
        "qwen2, gpt-2 and the names that share their regexes",
        name);
  }
  return p;
}

struct RegexSplitter::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

Result<RegexSplitter> RegexSplitter::compile(const std::vector<std::string>& patterns) {
  RegexSplitter s;
  for (const std::string& p : patterns) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return Status::errorf("pre-tokenizer regex /{}/ does not compile at offset {}: {}", p,
                            err_offset, reinterpret_cast<const char*>(msg));
    }
    auto c = std::make_shared<Code>();
    c->code = code;
    c->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    s.codes_.push_back(std::move(c));
  }
  return s;
}

void RegexSplitter::split_one(const Code& c, std::string_view text,
                              std::vector<std::string_view>* pieces) const {
  // Match data holds the ovector: per call, so that split() is thread-safe.
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(c.code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;      // where the next search starts
  size_t emitted = 0;  // end of the last piece
  uint32_t options = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(c.code, subject, text.size(), pos, options, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The interpreter keeps its backtracking state on the heap instead.
      options |= PCRE2_NO_JIT;
      rc = pcre2_match(c.code, subject, text.size(), pos, options, md, nullptr);
    }
    if (rc < 0) break;  // no more matches (or a match error): the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t mb = ov[0], me = ov[1];
    if (mb > emitted) pieces->push_back(text.substr(emitted, mb - emitted));
    if (me > mb) {
      pieces->push_back(text.substr(mb, me - mb));
      emitted = me;
      pos = me;
    } else {
      // Empty match: step over one character; the gap logic picks it up as a piece.
      const size_t n = utf8::valid_sequence_len(text, mb);
      emitted = mb;
      pos = mb + (n == 0 ? 1 : n);
    }
  }
  if (emitted < text.size()) pieces->push_back(text.substr(emitted));
  pcre2_match_data_free(md);
}

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>* pieces) const {
  pieces->clear();
  if (text.empty()) return;
  if (codes_.empty()) {
    pieces->push_back(text);
    return;
  }
  split_one(*codes_[0], text, pieces);
  std::vector<std::string_view> in, out;
  for (size_t k = 1; k < codes_.size(); ++k) {
    in.swap(*pieces);
    pieces->clear();
    for (std::string_view p : in) {
      out.clear();
      split_one(*codes_[k], p, &out);
      pieces->insert(pieces->end(), out.begin(), out.end());
    }
  }
}

}  // namespace strata
