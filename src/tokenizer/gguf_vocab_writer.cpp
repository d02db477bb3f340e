// Tokenizers as GGUF tokenizer.ggml.* metadata (see gguf_vocab_writer.h).
#include "tokenizer/gguf_vocab_writer.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <vector>

#include "core/file.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

namespace strata {

namespace {

MetaValue string_array(const std::vector<std::string>& v) {
  std::vector<MetaValue> items;
  items.reserve(v.size());
  for (const std::string& s : v) items.push_back(MetaValue::of_string(s));
  return MetaValue::of_array(MetaType::kString, std::move(items));
}

// Looks like "<|...|>": llama.cpp's convert script makes such added tokens control tokens
// even when tokenizer.json does not mark them special.
bool looks_special(const std::string& t) {
  return t.size() >= 4 && t.compare(0, 2, "<|") == 0 && t.compare(t.size() - 2, 2, "|>") == 0;
}

// tokenizer.json's merges, by rank, as "left right".
Result<std::vector<std::string>> json_merges(const nlohmann::json& j, const std::string& path) {
  std::vector<std::string> merges;
  if (j["model"].contains("merges") && j["model"]["merges"].is_array()) {
    for (const auto& m : j["model"]["merges"]) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return Status::errorf("{}: a merge is neither 'a b' nor [a, b]: {}", path, m.dump());
      }
    }
  }
  return merges;
}

// The translation must encode like the original: checked on a text with spaces, digits,
// punctuation, a contraction and non-ASCII letters.
Status check_translation(const Tokenizer& hf, const Metadata& meta, const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> gg, Tokenizer::from_gguf_metadata(meta, path));
  const std::string probe =
      "Hello world! It's 2026-11-25, 3.14159 ... caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 <|x|>\n\n  "
      "ok \xf0\x9f\xa6\x99";
  if (gg->encode(probe, true) != hf.encode(probe, true)) {
    return Status::errorf(
        "{}: the GGUF translation of this tokenizer encodes differently from "
        "tokenizer.json (a strata bug: please report it)",
        path);
  }
  return Status::ok();
}

// A SentencePiece-style tokenizer.json -> a GGUF "llama" vocabulary, as llama.cpp reads it:
// pieces as written, byte tokens of type BYTE, specials CONTROL (the unknown token UNKNOWN).
// GGUF SentencePiece merges the adjacent pair whose concatenation scores highest, where
// tokenizer.json ranks the merges themselves: a piece's score is minus the rank of the first
// merge that makes it, and a piece no merge makes (characters, "▁▁" in some vocabularies
// before its late merge) scores below every merge, so both orders agree.
Result<Metadata> gguf_spm_vocab(const Tokenizer& hf, const std::vector<std::string>& merges,
                                const std::string& path, int64_t n_vocab) {
  if (hf.n_vocab() > n_vocab) {
    return Status::errorf("{}: {} tokens, more than the model's {} embedding rows", path,
                          hf.n_vocab(), n_vocab);
  }
  std::unordered_map<std::string, int32_t> id_of;
  for (int32_t id = 0; id < hf.n_vocab(); ++id) id_of.emplace(hf.token_text(id), id);
  constexpr float kNoMerge = -1e9f;
  std::vector<float> score(n_vocab, kNoMerge);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const size_t sp = merges[rank].find(' ');
    if (sp == std::string::npos) continue;
    auto it = id_of.find(merges[rank].substr(0, sp) + merges[rank].substr(sp + 1));
    if (it != id_of.end() && score[it->second] == kNoMerge) {
      score[it->second] = -static_cast<float>(rank);
    }
  }
  const SpecialTokens& sp = hf.special();
  std::vector<std::string> tokens(n_vocab);
  std::vector<MetaValue> scores, types;
  for (int32_t id = 0; id < n_vocab; ++id) {
    TokenType t = id < hf.n_vocab() ? hf.token_type(id) : TokenType::kUnused;
    tokens[id] = id < hf.n_vocab() ? hf.token_text(id) : fmt::format("[PAD{}]", id);
    if (id == sp.unk) t = TokenType::kUnknown;
    if (t == TokenType::kUndefined) t = TokenType::kUnused;
    scores.push_back(MetaValue::of_f32(t == TokenType::kNormal ? score[id] : 0.0f));
    types.push_back(MetaValue::of_i32(static_cast<int32_t>(t)));
  }
  Metadata meta;
  meta["tokenizer.ggml.model"] = MetaValue::of_string("llama");
  meta["tokenizer.ggml.tokens"] = string_array(tokens);
  meta["tokenizer.ggml.scores"] = MetaValue::of_array(MetaType::kF32, std::move(scores));
  meta["tokenizer.ggml.token_type"] = MetaValue::of_array(MetaType::kI32, std::move(types));
  if (sp.bos >= 0) meta["tokenizer.ggml.bos_token_id"] = MetaValue::of_u32(sp.bos);
  if (sp.eos >= 0) meta["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(sp.eos);
  if (sp.unk >= 0) meta["tokenizer.ggml.unknown_token_id"] = MetaValue::of_u32(sp.unk);
  if (sp.pad >= 0) meta["tokenizer.ggml.padding_token_id"] = MetaValue::of_u32(sp.pad);
  meta["tokenizer.ggml.add_bos_token"] = MetaValue::of_bool(sp.add_bos);
  meta["tokenizer.ggml.add_eos_token"] = MetaValue::of_bool(sp.add_eos);
  STRATA_TRY(check_translation(hf, meta, path));
  return meta;
}

// tokenizer_config.json's chat template (beside `tokenizer_json_path`) as the GGUF key
// tokenizer.chat_template, as llama.cpp's converter writes it: the string, or the entry named
// "default" of a list of {"name", "template"}. Nothing when there is no config or template.
Status add_chat_template(const std::string& tokenizer_json_path, Metadata* meta) {
  const std::filesystem::path cfg_path =
      std::filesystem::path(tokenizer_json_path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(cfg_path, ec)) return Status::ok();
  STRATA_ASSIGN_OR_RETURN(const std::string text,
                          read_file_to_string(cfg_path.string(), 64ull << 20));
  const nlohmann::json cfg = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (cfg.is_discarded() || !cfg.is_object()) {
    return Status::errorf("{}: not a JSON object", cfg_path.string());
  }
  const nlohmann::json ct = cfg.value("chat_template", nlohmann::json());
  if (ct.is_string()) {
    (*meta)["tokenizer.chat_template"] = MetaValue::of_string(ct.get<std::string>());
  } else if (ct.is_array()) {
    for (const auto& e : ct) {
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
          e["template"].is_string()) {
        (*meta)["tokenizer.chat_template"] = MetaValue::of_string(e["template"].get<std::string>());
      }
    }
  }
  return Status::ok();
}

}  // namespace

// tokenizer.json -> tokenizer.ggml.* keys, as llama.cpp's convert_hf_to_gguf.py
// (_set_vocab_gpt2) writes them: one entry per embedding row, ids the vocabulary does not use
// become "[PAD<id>]" unused tokens; added tokens are control tokens when special, user
// defined otherwise; merges as "left right"; BOS/EOS/add_bos as the HF tokenizer resolves them.
Result<Metadata> gguf_vocab_from_tokenizer_json(const std::string& path, const std::string& pre,
                                                int64_t n_vocab) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> hf, Tokenizer::from_tokenizer_json(path));
  STRATA_ASSIGN_OR_RETURN(std::string text, read_file_decompressed(path, 256ull << 20));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("model") || !j["model"].contains("vocab") ||
      !j["model"]["vocab"].is_object()) {
    return Status::errorf("{}: not a tokenizer.json with model.vocab", path);
  }
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> merges, json_merges(j, path));
  if (hf->kind() == "spm") {
    STRATA_ASSIGN_OR_RETURN(Metadata meta, gguf_spm_vocab(*hf, merges, path, n_vocab));
    STRATA_TRY(add_chat_template(path, &meta));
    return meta;
  }
  std::vector<std::string> tokens(n_vocab);
  std::vector<int32_t> types(n_vocab, static_cast<int32_t>(TokenType::kUnused));
  std::vector<bool> used(n_vocab, false);
  auto put = [&](const std::string& tok, int64_t id, TokenType type) -> Status {
    if (id < 0 || id >= n_vocab) {
      return Status::errorf("{}: token '{}' has id {}, outside the model's {} embedding rows", path,
                            tok, id, n_vocab);
    }
    tokens[id] = tok;
    types[id] = static_cast<int32_t>(type);
    used[id] = true;
    return Status::ok();
  };
  for (const auto& [tok, id] : j["model"]["vocab"].items()) {
    if (!id.is_number_integer())
      return Status::errorf("{}: vocab id of '{}' is not an integer", path, tok);
    STRATA_TRY(put(tok, id.get<int64_t>(), TokenType::kNormal));
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& a : j["added_tokens"]) {
      const std::string content = a.value("content", "");
      const bool special = a.value("special", false) || looks_special(content);
      STRATA_TRY(put(content, a.value("id", int64_t{-1}),
                     special ? TokenType::kControl : TokenType::kUserDefined));
    }
  }
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (!used[i]) tokens[i] = fmt::format("[PAD{}]", i);
  }
  // Special ids and add_bos exactly as strata's tokenizer.json loader resolves them (it reads
  // tokenizer_config.json and the post-processor).
  const SpecialTokens& sp = hf->special();
  Metadata meta;
  meta["tokenizer.ggml.model"] = MetaValue::of_string("gpt2");
  meta["tokenizer.ggml.pre"] = MetaValue::of_string(pre);
  meta["tokenizer.ggml.tokens"] = string_array(tokens);
  std::vector<MetaValue> type_values;
  type_values.reserve(types.size());
  for (int32_t t : types) type_values.push_back(MetaValue::of_i32(t));
  meta["tokenizer.ggml.token_type"] = MetaValue::of_array(MetaType::kI32, std::move(type_values));
  meta["tokenizer.ggml.merges"] = string_array(merges);
  if (sp.bos >= 0) meta["tokenizer.ggml.bos_token_id"] = MetaValue::of_u32(sp.bos);
  if (sp.eos >= 0) meta["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(sp.eos);
  if (sp.pad >= 0) meta["tokenizer.ggml.padding_token_id"] = MetaValue::of_u32(sp.pad);
  meta["tokenizer.ggml.add_bos_token"] = MetaValue::of_bool(sp.add_bos);
  meta["tokenizer.ggml.add_eos_token"] = MetaValue::of_bool(sp.add_eos);

  STRATA_TRY(check_translation(*hf, meta, path));
  STRATA_TRY(add_chat_template(path, &meta));
  return meta;
}

// The tokenizer.ggml.* keys (and the chat template) of a GGUF vocabulary, copied as they are.
Result<Metadata> gguf_vocab_from_gguf(const std::string& path, int64_t n_vocab) {
  STRATA_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(path));
  Metadata meta;
  for (const auto& [k, v] : g.meta) {
    if (k.rfind("tokenizer.ggml.", 0) == 0 || k == "tokenizer.chat_template") meta[k] = v;
  }
  const std::vector<MetaValue>* toks = meta_array(meta, "tokenizer.ggml.tokens");
  if (toks == nullptr) return Status::errorf("{}: no tokenizer.ggml.tokens", path);
  if (static_cast<int64_t>(toks->size()) != n_vocab) {
    return Status::errorf("{}: the vocabulary has {} tokens, the shape {} embedding rows", path,
                          toks->size(), n_vocab);
  }
  return meta;
}

}  // namespace strata
