// Tokenizer::from_tokenizer_json: Hugging Face tokenizers' serialization (tokenizer.json) of
// a BPE model, byte-level (GPT-2, Llama 3, Qwen) or SentencePiece-style (Llama 2, Mistral:
// the Prepend/Replace "▁" normalizer or a Metaspace pre-tokenizer, byte fallback), plus the
// transformers tokenizer_config.json beside it for the special tokens and add_bos/add_eos.
// tokenizer.json is the authority, as in the tokenizers library: tokenizer_config.json's
// `legacy` changes only how transformers converts a slow tokenizer, and a legacy=false
// conversion is written as Metaspace(prepend_scheme "first", split false), which is read
// here. Anything this BPE cannot reproduce (other models, normalizers or pre-tokenizers) is
// an error naming it, never a silent difference.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_json_sax.h"
#include "tokenizer/vocab.h"

namespace strata {
namespace {

using json = nlohmann::json;

// 1 GiB: the largest real tokenizer.json files are ~30 MB.
constexpr uint64_t kMaxJsonBytes = 1ull << 30;

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::strchr("\\^$.|?*+()[]{}", c) != nullptr) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

struct PreTokenizerConfig {
  std::vector<std::string> regexes;
  bool add_prefix_space = false;
  bool byte_level = false;
  bool metaspace = false;
  BpeSpec::Prepend metaspace_prepend = BpeSpec::Prepend::kIfNoSpace;
  bool metaspace_split = true;
};

// The SentencePiece space mark as the JSON holds it.
bool is_space_mark(const json& v) { return v.is_string() && v.get<std::string>() == kSpaceMark; }

Status parse_pre_tokenizer(const json& p, PreTokenizerConfig* cfg) {
  if (p.is_null()) return Status::ok();
  if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) {
    return Status::error("pre_tokenizer is not an object with a type");
  }
  const std::string type = p["type"];
  if (type == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) {
      return Status::error("pre_tokenizer Sequence without a pretokenizers array");
    }
    for (const json& sub : p["pretokenizers"]) STRATA_TRY(parse_pre_tokenizer(sub, cfg));
    return Status::ok();
  }
  if (type == "ByteLevel") {
    cfg->byte_level = true;
    if (p.value("add_prefix_space", false)) {
      // HF prepends to each piece the earlier steps produced; only "before everything" is
      // supported (and is what GPT-2-style tokenizers use).
      if (!cfg->regexes.empty()) {
        return Status::error(
            "pre_tokenizer ByteLevel with add_prefix_space after a Split is "
            "not supported");
      }
      cfg->add_prefix_space = true;
    }
    if (p.value("use_regex", true)) cfg->regexes.push_back(kGpt2SplitRegex);
    return Status::ok();
  }
  if (type == "Split") {
    const std::string behavior = p.value("behavior", "Isolated");
    if (behavior != "Isolated" || p.value("invert", false)) {
      return Status::errorf("pre_tokenizer Split with behavior {}{} is not supported", behavior,
                            p.value("invert", false) ? " and invert" : "");
    }
    const json& pat = p.contains("pattern") ? p["pattern"] : json();
    if (pat.contains("Regex") && pat["Regex"].is_string()) {
      cfg->regexes.push_back(pat["Regex"].get<std::string>());
    } else if (pat.contains("String") && pat["String"].is_string()) {
      cfg->regexes.push_back(regex_escape(pat["String"].get<std::string>()));
    } else {
      return Status::error("pre_tokenizer Split without a Regex or String pattern");
    }
    return Status::ok();
  }
  if (type == "Metaspace") {
    if (cfg->metaspace || cfg->byte_level || !cfg->regexes.empty()) {
      return Status::error("pre_tokenizer Metaspace combined with other pre-tokenizers is not "
                           "supported");
    }
    if (!is_space_mark(p.value("replacement", json()))) {
      return Status::error("pre_tokenizer Metaspace with a replacement other than \"\u2581\" is "
                           "not supported");
    }
    cfg->metaspace = true;
    const std::string scheme = p.value("prepend_scheme", std::string("always"));
    if (scheme == "always") {
      cfg->metaspace_prepend = BpeSpec::Prepend::kIfNoSpace;
    } else if (scheme == "first") {
      cfg->metaspace_prepend = BpeSpec::Prepend::kFirstIfNoSpace;
    } else if (scheme == "never") {
      cfg->metaspace_prepend = BpeSpec::Prepend::kNone;
    } else {
      return Status::errorf("pre_tokenizer Metaspace prepend_scheme '{}' is unknown", scheme);
    }
    // Files older than prepend_scheme say add_prefix_space; false means "never".
    if (p.contains("add_prefix_space") && p["add_prefix_space"].is_boolean() &&
        !p["add_prefix_space"].get<bool>()) {
      cfg->metaspace_prepend = BpeSpec::Prepend::kNone;
    }
    cfg->metaspace_split = p.value("split", true);
    return Status::ok();
  }
  if (type == "Digits") {
    cfg->regexes.push_back(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    return Status::ok();
  }
  return Status::errorf("pre_tokenizer type {} is not supported", type);
}

struct NormalizerConfig {
  bool nfc = false;
  bool prepend_space_mark = false;  // Prepend("▁")
  bool spaces_to_marks = false;     // Replace(" ", "▁")
};

Status parse_normalizer(const json& n, NormalizerConfig* cfg) {
  if (n.is_null()) return Status::ok();
  const std::string type = n.value("type", "");
  if (type == "NFC") {
    cfg->nfc = true;
    return Status::ok();
  }
  if (type == "Prepend") {
    if (!is_space_mark(n.value("prepend", json()))) {
      return Status::error("normalizer Prepend of anything but \"\u2581\" is not supported");
    }
    cfg->prepend_space_mark = true;
    return Status::ok();
  }
  if (type == "Replace") {
    const json& pat = n.value("pattern", json());
    if (!pat.is_object() || pat.value("String", json()) != json(" ") ||
        !is_space_mark(n.value("content", json()))) {
      return Status::error("normalizer Replace other than \" \" -> \"\u2581\" is not supported");
    }
    cfg->spaces_to_marks = true;
    return Status::ok();
  }
  if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
    for (const json& sub : n["normalizers"]) STRATA_TRY(parse_normalizer(sub, cfg));
    return Status::ok();
  }
  return Status::errorf("normalizer type {} is not supported", type.empty() ? "?" : type);
}

// bos_token / eos_token in tokenizer_config.json: a string, {"content": ...}, or null.
std::optional<std::string> config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

// Builds the spec from the parsed documents; `cfg` is null when there is no config.
Status build_spec(TokenizerJsonDoc* file, const json& cfg, BpeSpec* spec) {
  const json& doc = file->doc;
  if (!doc.is_object()) return Status::error("the top level is not an object");
  if (!doc.contains("model") || !doc["model"].is_object()) {
    return Status::error("no model object");
  }
  const json& model = doc["model"];
  const std::string type = model.value("type", file->has_merges ? "BPE" : "");
  if (type != "BPE") {
    return Status::errorf("model type '{}' is not supported (only BPE)", type);
  }
  if (!model.value("continuing_subword_prefix", json()).is_null() &&
      !model["continuing_subword_prefix"].get<std::string>().empty()) {
    return Status::error("BPE continuing_subword_prefix is not supported");
  }
  if (!model.value("end_of_word_suffix", json()).is_null() &&
      !model["end_of_word_suffix"].get<std::string>().empty()) {
    return Status::error("BPE end_of_word_suffix is not supported");
  }
  spec->ignore_merges = model.value("ignore_merges", false);
  spec->byte_fallback = model.value("byte_fallback", false);
  spec->fuse_unk = model.value("fuse_unk", false);

  PreTokenizerConfig pre;
  STRATA_TRY(parse_pre_tokenizer(doc.value("pre_tokenizer", json()), &pre));
  NormalizerConfig norm;
  STRATA_TRY(parse_normalizer(doc.value("normalizer", json()), &norm));
  spec->nfc = norm.nfc;
  if (pre.byte_level) {
    if (norm.prepend_space_mark || norm.spaces_to_marks) {
      return Status::error("a ByteLevel pre-tokenizer with a \"\u2581\" normalizer is not "
                           "supported");
    }
    spec->split_regexes = std::move(pre.regexes);
    spec->add_prefix_space = pre.add_prefix_space;
  } else if (norm.spaces_to_marks || pre.metaspace) {
    // SentencePiece style: legacy files normalize (Prepend + Replace, no pre-tokenizer),
    // newer ones use the Metaspace pre-tokenizer.
    if (!pre.regexes.empty()) {
      return Status::error("SentencePiece-style BPE with a Split pre-tokenizer is not supported");
    }
    if (norm.prepend_space_mark && pre.metaspace && pre.metaspace_prepend != BpeSpec::Prepend::kNone) {
      return Status::error("both a Prepend normalizer and a prepending Metaspace pre-tokenizer");
    }
    spec->input = BpeSpec::Input::kSentencePiece;
    spec->prepend = norm.prepend_space_mark ? BpeSpec::Prepend::kEvery
                    : pre.metaspace         ? pre.metaspace_prepend
                                            : BpeSpec::Prepend::kNone;
    spec->split_at_spaces = pre.metaspace && pre.metaspace_split;
  } else {
    return Status::error(
        "neither a byte-level BPE (ByteLevel pre-tokenizer) nor a SentencePiece-style one "
        "(\"\u2581\" normalizer or Metaspace pre-tokenizer)");
  }

  // Vocabulary: token -> id. Added tokens may extend it; ids must fit vocab + added.
  if (!file->has_vocab) return Status::error("model.vocab is missing or not an object");
  const auto& vocab = file->vocab;
  const json empty_array = json::array();
  const json& added = doc.contains("added_tokens") && doc["added_tokens"].is_array()
                          ? doc["added_tokens"]
                          : empty_array;
  const int64_t id_limit = static_cast<int64_t>(vocab.size() + added.size());
  if (id_limit > (1 << 24)) return Status::errorf("absurd vocabulary size {}", id_limit);
  std::vector<std::string>& tokens = spec->tokens;
  std::vector<TokenType>& types = spec->types;
  std::vector<bool> seen(id_limit, false);
  int64_t n = 0;
  auto claim = [&](int64_t id, const std::string& text, const char* where) -> Status {
    if (id < 0 || id >= id_limit) {
      return Status::errorf("{} token '{}' has id {}, out of range (0..{})", where, text, id,
                            id_limit - 1);
    }
    n = std::max(n, id + 1);
    if (static_cast<int64_t>(tokens.size()) < n) {
      tokens.resize(n);
      types.resize(n, TokenType::kUnused);
    }
    return Status::ok();
  };
  for (const auto& [text, id] : vocab) {
    STRATA_TRY(claim(id, text, "vocab"));
    if (seen[id]) {
      return Status::errorf("vocab id {} is used twice ('{}' and '{}')", id, tokens[id], text);
    }
    seen[id] = true;
    tokens[id] = text;
    types[id] = TokenType::kNormal;
  }
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        !a.contains("content") || !a["content"].is_string()) {
      return Status::error("an added_tokens entry lacks an integer id or a content string");
    }
    AddedToken t;
    t.text = a["content"].get<std::string>();
    t.id = static_cast<int32_t>(std::clamp<int64_t>(a["id"].get<int64_t>(), -1, id_limit));
    t.special = a.value("special", false);
    t.lstrip = a.value("lstrip", false);
    t.rstrip = a.value("rstrip", false);
    STRATA_TRY(claim(a["id"].get<int64_t>(), t.text, "added"));
    if (seen[t.id] && tokens[t.id] != t.text) {
      // HF would let the added token shadow the vocab entry; a file that does so is broken.
      return Status::errorf("added token '{}' reuses id {} of vocab token '{}'", t.text, t.id,
                            tokens[t.id]);
    }
    seen[t.id] = true;
    tokens[t.id] = t.text;
    types[t.id] = t.special ? TokenType::kControl : TokenType::kUserDefined;
    spec->added.push_back(std::move(t));
  }

  if (!file->has_merges) return Status::error("BPE without merges (model.merges is missing)");
  spec->merges = std::move(file->merges);

  // Special tokens: tokenizer_config.json names them by content.
  auto id_of = [&](const std::string& text) -> int32_t {
    for (const AddedToken& a : spec->added) {
      if (a.text == text) return a.id;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] == text) return static_cast<int32_t>(i);
    }
    return -1;
  };
  SpecialTokens& sp = spec->special;
  if (cfg.is_object()) {
    // added_tokens_decoder repeats added_tokens; it may add ones tokenizer.json lacks.
    if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
      for (const auto& [key, a] : cfg["added_tokens_decoder"].items()) {
        char* end = nullptr;
        const long long id = std::strtoll(key.c_str(), &end, 10);
        if (end == key.c_str() || *end != '\0' || !a.is_object() || !a.contains("content") ||
            !a["content"].is_string()) {
          return Status::errorf(
              "tokenizer_config.json: added_tokens_decoder entry '{}' is "
              "malformed",
              key);
        }
        const std::string content = a["content"].get<std::string>();
        if (id >= 0 && id < n && tokens[id] == content) continue;  // already known
        if (id < 0 || id >= n || types[id] != TokenType::kUnused) {
          return Status::errorf(
              "tokenizer_config.json: added token '{}' has id {}, out of range or taken", content,
              id);
        }
        AddedToken t;
        t.text = content;
        t.id = static_cast<int32_t>(id);
        t.special = a.value("special", true);
        tokens[id] = content;
        types[id] = t.special ? TokenType::kControl : TokenType::kUserDefined;
        spec->added.push_back(std::move(t));
      }
    }
    // BOS and EOS must exist; an unknown or padding token the vocabulary lacks is left unset
    // (transformers would add it at load time; it is never needed to encode or decode).
    auto resolve = [&](const char* key, bool required, int32_t* id) -> Status {
      if (auto text = config_token(cfg, key)) {
        *id = id_of(*text);
        if (*id < 0 && required) {
          return Status::errorf("tokenizer_config.json: {} '{}' is not in the vocabulary", key,
                                *text);
        }
      }
      return Status::ok();
    };
    STRATA_TRY(resolve("bos_token", true, &sp.bos));
    STRATA_TRY(resolve("eos_token", true, &sp.eos));
    STRATA_TRY(resolve("unk_token", false, &sp.unk));
    STRATA_TRY(resolve("pad_token", false, &sp.pad));
  }
  if (sp.unk < 0 && model.contains("unk_token") && model["unk_token"].is_string()) {
    sp.unk = id_of(model["unk_token"].get<std::string>());
  }

  // add_bos: the config's flag; else a TemplateProcessing post-processor that starts with
  // BOS; else (no information, as in the Llama 3 file here) whenever a BOS token is named.
  bool add_bos = sp.bos >= 0;
  const json& post = doc.value("post_processor", json());
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" &&
      post.contains("single") && post["single"].is_array()) {
    const json& single = post["single"];
    add_bos = !single.empty() && single[0].contains("SpecialToken") &&
              id_of(single[0]["SpecialToken"].value("id", "")) == sp.bos && sp.bos >= 0;
  }
  if (cfg.is_object()) {
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) {
      add_bos = cfg["add_bos_token"].get<bool>() && sp.bos >= 0;
    }
    if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()) {
      sp.add_eos = cfg["add_eos_token"].get<bool>() && sp.eos >= 0;
    }
  }
  sp.add_bos = add_bos;
  return Status::ok();
}

Result<json> parse_json_file(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(const std::string text, read_file_to_string(path, kMaxJsonBytes));
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return Status::errorf("{}: not valid JSON: {}", path, e.what());  // names the byte offset
  }
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_tokenizer_json(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(const std::string text, read_file_decompressed(path, kMaxJsonBytes));
  json cfg;
  const std::filesystem::path cfg_path =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::is_regular_file(cfg_path, ec)) {
    STRATA_ASSIGN_OR_RETURN(cfg, parse_json_file(cfg_path.string()));
  }
  return tokenizer_from_json_text(text, cfg, path);
}

Result<std::unique_ptr<Tokenizer>> tokenizer_from_json_text(std::string_view text,
                                                            const nlohmann::json& config,
                                                            const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(TokenizerJsonDoc file, read_tokenizer_json(name, text));
  BpeSpec spec;
  try {
    STRATA_TRY(build_spec(&file, config, &spec).with_context(name));
  } catch (const json::exception& e) {
    // A field of an unexpected JSON type somewhere nlohmann's accessors were not guarded.
    return Status::errorf("{}: unexpected structure: {}", name, e.what());
  }
  return make_bpe_tokenizer(std::move(spec), name);
}

}  // namespace strata
