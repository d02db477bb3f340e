// Tokenizer::from_gguf_metadata: the tokenizer.ggml.* keys as llama.cpp's convert scripts
// write them (gguf-py/gguf/constants.py Keys.Tokenizer).
#include <fmt/format.h>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

// A special id key: -1 when absent, or when the converter wrote -1 / 0xFFFFFFFF for "none".
Result<int32_t> special_id(const Metadata& meta, const std::string& key, int32_t n_vocab,
                           const std::string& source) {
  const MetaValue* v = meta_find(meta, key);
  if (v == nullptr) return -1;
  const std::optional<int64_t> id = v->as_int();
  if (!id) {
    return Status::errorf("{}: {} is a {}, expected an integer", source, key,
                          meta_type_name(v->type));
  }
  if (*id < 0 || *id == 0xFFFFFFFFll) return -1;
  if (*id >= n_vocab) {
    return Status::errorf("{}: {} = {} is out of range (vocabulary of {} tokens)", source, key, *id,
                          n_vocab);
  }
  return static_cast<int32_t>(*id);
}

Result<bool> flag(const Metadata& meta, const std::string& key, bool fallback,
                  const std::string& source) {
  const MetaValue* v = meta_find(meta, key);
  if (v == nullptr) return fallback;
  if (v->type != MetaType::kBool && !v->is_integer()) {
    return Status::errorf("{}: {} is a {}, expected a bool", source, key, meta_type_name(v->type));
  }
  return v->as_int().value_or(0) != 0;
}

// An optional array whose length must match the token count.
Result<const std::vector<MetaValue>*> parallel_array(const Metadata& meta, const std::string& key,
                                                     size_t n_tokens, const std::string& source) {
  const MetaValue* v = meta_find(meta, key);
  if (v == nullptr) return static_cast<const std::vector<MetaValue>*>(nullptr);
  if (v->type != MetaType::kArray) {
    return Status::errorf("{}: {} is a {}, expected an array", source, key,
                          meta_type_name(v->type));
  }
  if (v->arr.size() != n_tokens) {
    return Status::errorf("{}: {} has {} entries but tokenizer.ggml.tokens has {}", source, key,
                          v->arr.size(), n_tokens);
  }
  return &v->arr;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf_metadata(const Metadata& meta,
                                                                 const std::string& source) {
  const std::optional<std::string> model = meta_string(meta, "tokenizer.ggml.model");
  if (!model) return Status::errorf("{}: no tokenizer (tokenizer.ggml.model is missing)", source);
  const bool is_spm = *model == "llama";
  if (!is_spm && *model != "gpt2") {
    return Status::errorf(
        "{}: tokenizer.ggml.model '{}' is not supported (supported: 'llama' SentencePiece BPE, "
        "'gpt2' byte-level BPE)",
        source, *model);
  }

  const std::vector<MetaValue>* tokens = meta_array(meta, "tokenizer.ggml.tokens");
  if (tokens == nullptr) {
    return Status::errorf("{}: tokenizer.ggml.tokens is missing or not an array", source);
  }
  const size_t n = tokens->size();
  if (n == 0) return Status::errorf("{}: tokenizer.ggml.tokens is empty", source);
  if (n > (1u << 24)) {
    return Status::errorf("{}: absurd vocabulary size {} (more than 2^24 tokens)", source, n);
  }
  std::vector<std::string> texts(n);
  for (size_t i = 0; i < n; ++i) {
    const MetaValue& t = (*tokens)[i];
    if (t.type != MetaType::kString) {
      return Status::errorf("{}: tokenizer.ggml.tokens[{}] is a {}, expected a string", source, i,
                            meta_type_name(t.type));
    }
    texts[i] = t.s;
  }

  STRATA_ASSIGN_OR_RETURN(const auto* types_arr,
                          parallel_array(meta, "tokenizer.ggml.token_type", n, source));
  std::vector<TokenType> types(n, TokenType::kNormal);
  if (types_arr != nullptr) {
    for (size_t i = 0; i < n; ++i) {
      const std::optional<int64_t> t = (*types_arr)[i].as_int();
      if (!t || *t < 0 || *t > 6) {
        return Status::errorf("{}: tokenizer.ggml.token_type[{}] is not a token type 0..6", source,
                              i);
      }
      types[i] = static_cast<TokenType>(*t);
    }
  }

  SpecialTokens sp;
  const int32_t nv = static_cast<int32_t>(n);
  STRATA_ASSIGN_OR_RETURN(sp.bos, special_id(meta, "tokenizer.ggml.bos_token_id", nv, source));
  STRATA_ASSIGN_OR_RETURN(sp.eos, special_id(meta, "tokenizer.ggml.eos_token_id", nv, source));
  STRATA_ASSIGN_OR_RETURN(sp.eot, special_id(meta, "tokenizer.ggml.eot_token_id", nv, source));
  STRATA_ASSIGN_OR_RETURN(sp.unk, special_id(meta, "tokenizer.ggml.unknown_token_id", nv, source));
  STRATA_ASSIGN_OR_RETURN(sp.pad, special_id(meta, "tokenizer.ggml.padding_token_id", nv, source));
  STRATA_ASSIGN_OR_RETURN(const int32_t eom,
                          special_id(meta, "tokenizer.ggml.eom_token_id", nv, source));
  if (eom >= 0) sp.eog.push_back(eom);
  STRATA_ASSIGN_OR_RETURN(sp.add_eos, flag(meta, "tokenizer.ggml.add_eos_token", false, source));

  if (is_spm) {
    SpmSpec spec;
    STRATA_ASSIGN_OR_RETURN(const auto* scores,
                            parallel_array(meta, "tokenizer.ggml.scores", n, source));
    if (scores != nullptr) {
      spec.scores.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const std::optional<double> s = (*scores)[i].as_float();
        if (!s) return Status::errorf("{}: tokenizer.ggml.scores[{}] is not a number", source, i);
        spec.scores[i] = static_cast<float>(*s);
      }
    }
    // llama.cpp's defaults for a SentencePiece vocabulary without the keys.
    auto find = [&](std::string_view text) -> int32_t {
      for (size_t i = 0; i < n && i < 8; ++i) {
        if (texts[i] == text) return static_cast<int32_t>(i);
      }
      return -1;
    };
    if (meta_find(meta, "tokenizer.ggml.bos_token_id") == nullptr) sp.bos = find("<s>");
    if (meta_find(meta, "tokenizer.ggml.eos_token_id") == nullptr) sp.eos = find("</s>");
    STRATA_ASSIGN_OR_RETURN(sp.add_bos, flag(meta, "tokenizer.ggml.add_bos_token", true, source));
    STRATA_ASSIGN_OR_RETURN(spec.add_space_prefix,
                            flag(meta, "tokenizer.ggml.add_space_prefix", true, source));
    spec.tokens = std::move(texts);
    spec.types = std::move(types);
    spec.special = sp;
    return make_spm_tokenizer(std::move(spec), source);
  }

  BpeSpec spec;
  const std::string pre = meta_string(meta, "tokenizer.ggml.pre").value_or("default");
  auto pre_tok = gguf_pre_tokenizer(pre);
  if (!pre_tok) return pre_tok.status().with_context(source);
  spec.split_regexes = std::move(pre_tok->regexes);
  spec.ignore_merges = pre_tok->ignore_merges;
  // llama.cpp adds BOS by default for the Llama 3 family only.
  STRATA_ASSIGN_OR_RETURN(
      sp.add_bos, flag(meta, "tokenizer.ggml.add_bos_token", pre_tok->ignore_merges, source));
  STRATA_ASSIGN_OR_RETURN(spec.add_prefix_space,
                          flag(meta, "tokenizer.ggml.add_space_prefix", false, source));

  const std::vector<MetaValue>* merges = meta_array(meta, "tokenizer.ggml.merges");
  if (merges == nullptr) {
    return Status::errorf(
        "{}: byte-level BPE vocabulary without merges "
        "(tokenizer.ggml.merges is missing or not an array)",
        source);
  }
  spec.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const MetaValue& m = (*merges)[i];
    const size_t space = m.type == MetaType::kString ? m.s.find(' ', 1) : std::string::npos;
    if (space == std::string::npos) {
      return Status::errorf("{}: tokenizer.ggml.merges[{}] is not a string 'left right'", source,
                            i);
    }
    spec.merges.emplace_back(m.s.substr(0, space), m.s.substr(space + 1));
  }
  spec.tokens = std::move(texts);
  spec.types = std::move(types);
  spec.special = sp;
  return make_bpe_tokenizer(std::move(spec), source);
}

}  // namespace strata
