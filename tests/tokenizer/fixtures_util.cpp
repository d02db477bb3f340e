#include "tokenizer/fixtures_util.h"

#include <fstream>
#include <memory>
#include <sstream>

#include "core/file.h"
#include "format/gguf.h"

namespace strata::testing {
namespace {

struct Loaded {
  std::unique_ptr<Tokenizer> tok;
  std::string error;
};

const Tokenizer* get(const Loaded& l, std::string* error) {
  if (error != nullptr) *error = l.error;
  return l.tok.get();
}

Loaded from(Result<std::unique_ptr<Tokenizer>> r) {
  Loaded l;
  if (r.is_ok()) {
    l.tok = std::move(r).value();
  } else {
    l.error = r.status().message();
  }
  return l;
}

Loaded from_gguf(const std::string& path) {
  auto g = parse_gguf(path);
  if (!g.is_ok()) return from(g.status());
  return from(Tokenizer::from_gguf_metadata(g->meta, path));
}

}  // namespace

const Tokenizer* llama3_json(std::string* error) {
  static const Loaded l =
      from(Tokenizer::from_tokenizer_json(kData + "/tokenizers/llama3/tokenizer.json.zst"));
  return get(l, error);
}
const Tokenizer* qwen3_json(std::string* error) {
  static const Loaded l =
      from(Tokenizer::from_tokenizer_json(kData + "/tokenizers/qwen3/tokenizer.json.zst"));
  return get(l, error);
}
const Tokenizer* gpt2_gguf(std::string* error) {
  static const Loaded l = from_gguf(kTestData + "/tokenizers/vectors/ggml-vocab-gpt-2.gguf");
  return get(l, error);
}
const Tokenizer* llama_spm_gguf(std::string* error) {
  static const Loaded l = from_gguf(kTestData + "/tokenizers/vectors/ggml-vocab-llama-spm.gguf");
  return get(l, error);
}
const Tokenizer* stories_gguf(std::string* error) {
  static const Loaded l = from_gguf(kData + "/models/stories260K.gguf");
  return get(l, error);
}
const Tokenizer* stories_tok512(std::string* error) {
  static const Loaded l =
      from(Tokenizer::from_llama2c(kTestData + "/models/tok512.bin", 512));
  return get(l, error);
}

std::string read_all(const std::string& path) {
  auto r = read_file_decompressed(path);
  return r ? std::move(r).value() : std::string();
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

}  // namespace strata::testing
