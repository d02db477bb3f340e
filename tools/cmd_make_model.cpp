// strata make-model: a random-weight model (normal(0, 0.02) matrices, norms 1) of a real
// architecture's exact shape, with that family's real tokenizer, as GGUF or as a Hugging
// Face directory. Same shape, dtype, layers and seed give the same bytes.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/file.h"
#include "core/log.h"
#include "core/timer.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "model/model_writer.h"
#include "model/shapes.h"
#include "store/placement.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"

namespace strata::cli {

namespace {

struct MakeModelArgs {
  std::string shape;
  std::string dtype = "f16";
  std::string format = "gguf";
  std::string out;
  int64_t layers = 0;
  uint64_t seed = 0;
  std::string shared_dir;
  bool list = false;
};

// The project's shared/ directory: --shared-dir, else $STRATA_SHARED_DIR, else the one next
// to the source tree this binary was built from.
std::string resolve_shared_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("STRATA_SHARED_DIR"); env && *env) return env;
#ifdef STRATA_SHARED_DIR_DEFAULT
  return STRATA_SHARED_DIR_DEFAULT;
#else
  return "../shared";
#endif
}

Result<std::string> find_vocab_file(const ModelShape& shape, const std::string& shared_dir) {
  namespace fs = std::filesystem;
  const std::string path = shared_dir + "/" + shape.vocab_file;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return path;
  // The tiny shape's vocabulary is also the bundled model's.
  if (shape.vocab == ShapeVocab::kGgufVocab &&
      fs::path(shape.vocab_file).filename() == fs::path(default_model_path()).filename() &&
      fs::is_regular_file(default_model_path(), ec)) {
    return default_model_path();
  }
  return Status::errorf(
      "shape '{}' needs its tokenizer {}, which is not there: point --shared-dir (or the "
      "STRATA_SHARED_DIR environment variable) at the project's shared/ directory",
      shape.name, path);
}

Result<DType> parse_dtype(const std::string& s) {
  if (s == "f32") return DType::kF32;
  if (s == "f16") return DType::kF16;
  if (s == "bf16") return DType::kBF16;
  return Status::errorf("--dtype must be f32, f16 or bf16, got '{}'", s);
}

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

// tokenizer.json -> tokenizer.ggml.* keys, as llama.cpp's convert_hf_to_gguf.py
// (_set_vocab_gpt2) writes them: one entry per embedding row, ids the vocabulary does not use
// become "[PAD<id>]" unused tokens; added tokens are control tokens when special, user
// defined otherwise; merges as "left right"; BOS/EOS/add_bos as the HF tokenizer resolves them.
Result<Metadata> gguf_vocab_from_tokenizer_json(const std::string& path, const std::string& pre,
                                                int64_t n_vocab) {
  STRATA_ASSIGN_OR_RETURN(std::string text, read_file_to_string(path, 256ull << 20));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("model") || !j["model"].contains("vocab") ||
      !j["model"]["vocab"].is_object()) {
    return Status::errorf("{}: not a tokenizer.json with model.vocab", path);
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
  // Special ids and add_bos exactly as strata's tokenizer.json loader resolves them (it reads
  // tokenizer_config.json and the post-processor).
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> hf, Tokenizer::from_tokenizer_json(path));
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

  // The translation must encode like the original: check on a text with spaces, digits,
  // punctuation, a contraction and non-ASCII letters.
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> gg, Tokenizer::from_gguf_metadata(meta, path));
  const std::string probe =
      "Hello world! It's 2026-11-25, 3.14159 ... caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 <|x|>\n\n  "
      "ok";
  if (gg->encode(probe, true) != hf->encode(probe, true)) {
    return Status::errorf(
        "{}: the GGUF translation of this tokenizer encodes differently from "
        "tokenizer.json (a strata bug: please report it)",
        path);
  }
  return meta;
}

// The tokenizer.ggml.* keys of a GGUF vocabulary, copied as they are.
Result<Metadata> gguf_vocab_from_gguf(const std::string& path, int64_t n_vocab) {
  STRATA_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(path));
  Metadata meta;
  for (const auto& [k, v] : g.meta) {
    if (k.rfind("tokenizer.ggml.", 0) == 0) meta[k] = v;
  }
  const std::vector<MetaValue>* toks = meta_array(meta, "tokenizer.ggml.tokens");
  if (toks == nullptr) return Status::errorf("{}: no tokenizer.ggml.tokens", path);
  if (static_cast<int64_t>(toks->size()) != n_vocab) {
    return Status::errorf("{}: the vocabulary has {} tokens, the shape {} embedding rows", path,
                          toks->size(), n_vocab);
  }
  return meta;
}

Status copy_file_atomic(const std::string& from, const std::string& to) {
  STRATA_ASSIGN_OR_RETURN(std::string bytes, read_file_to_string(from, 256ull << 20));
  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::create(to));
  STRATA_TRY(w.write(bytes.data(), bytes.size()));
  return w.commit();
}

// Smaller writes take a moment and need no progress.
constexpr uint64_t kProgressMinBytes = 64ull << 20;

// Progress on stderr, at most once a second: "\r" updates on a terminal, lines otherwise.
std::function<void(uint64_t, uint64_t)> progress_printer(const std::string& what) {
  struct State {
    Stopwatch sw;
    double last_s = -1;
  };
  auto st = std::make_shared<State>();
  const bool tty = ::isatty(2);
  return [st, tty, what](uint64_t done, uint64_t total) {
    const double t = st->sw.elapsed_s();
    if (total < kProgressMinBytes || (done < total && t - st->last_s < 1.0)) return;
    st->last_s = t;
    std::fprintf(stderr, "%sstrata: make-model: %s %.2f / %.2f GB (%.0f%%), %.0f MB/s%s",
                 tty ? "\r" : "", what.c_str(), done / 1e9, total / 1e9,
                 total ? 100.0 * done / total : 100.0, t > 0 ? done / t / 1e6 : 0.0,
                 tty && done < total ? "" : "\n");
    std::fflush(stderr);
  };
}

int make_model_main(const MakeModelArgs& a) {
  if (a.list) {
    std::printf("%-14s %-32s %6s %6s %6s %5s %5s %5s %7s  tokenizer\n", "shape", "model", "hidden",
                "ffn", "layers", "heads", "kv", "hdim", "vocab");
    for (const ModelShape& s : model_shapes()) {
      const ModelConfig& c = s.config;
      std::printf("%-14s %-32s %6ld %6ld %6ld %5ld %5ld %5ld %7ld  %s\n", s.name.c_str(),
                  s.display_name.c_str(), long(c.n_embd), long(c.n_ff), long(c.n_layer),
                  long(c.n_head), long(c.n_head_kv), long(c.head_dim), long(c.n_vocab),
                  s.vocab_file.c_str());
    }
    return 0;
  }
  if (a.shape.empty() || a.out.empty()) {
    return fail(Status::errorf("make-model needs --shape NAME and --out PATH (shapes: {})",
                               model_shape_names()));
  }
  auto shape = find_model_shape(a.shape, a.layers);
  if (!shape) return fail(shape.status());
  auto dtype = parse_dtype(a.dtype);
  if (!dtype) return fail(dtype.status());
  if (a.format != "gguf" && a.format != "safetensors") {
    return fail(Status::errorf("--format must be gguf or safetensors, got '{}'", a.format));
  }
  const std::string shared = resolve_shared_dir(a.shared_dir);
  auto vocab_path = find_vocab_file(*shape, shared);
  if (!vocab_path) return fail(vocab_path.status());
  const ModelConfig& c = shape->config;

  RandomModelOptions o;
  o.dtype = *dtype;
  o.seed = a.seed;
  o.name = shape->name + (a.layers > 0 ? fmt::format("-{}L", c.n_layer) : "") + "-random";
  o.on_progress = progress_printer(a.out);
  STRATA_LOG_INFO(
      "make-model: {} ({}): {} layers, hidden {}, ffn {}, heads {}/{} kv, vocab {}, "
      "{} {}, seed {}: {} of weights",
      shape->name, shape->display_name, c.n_layer, c.n_embd, c.n_ff, c.n_head, c.n_head_kv,
      c.n_vocab, a.format, dtype_name(*dtype), a.seed, format_bytes(model_weight_bytes(c, *dtype)));
  Stopwatch sw;
  if (a.format == "gguf") {
    auto meta = shape->vocab == ShapeVocab::kTokenizerJson
                    ? gguf_vocab_from_tokenizer_json(*vocab_path, shape->gguf_pre, c.n_vocab)
                    : gguf_vocab_from_gguf(*vocab_path, c.n_vocab);
    if (!meta) return fail(meta.status());
    o.extra_gguf_meta = std::move(meta).value();
    if (Status s = write_random_gguf(c, o, a.out); !s) return fail(s);
  } else {
    if (Status s = write_random_hf(c, o, a.out); !s) return fail(s);
    if (shape->vocab == ShapeVocab::kTokenizerJson) {
      namespace fs = std::filesystem;
      const fs::path dir = fs::path(*vocab_path).parent_path();
      if (Status s = copy_file_atomic(*vocab_path, a.out + "/tokenizer.json"); !s) return fail(s);
      std::error_code ec;
      if (fs::is_regular_file(dir / "tokenizer_config.json", ec)) {
        Status s = copy_file_atomic((dir / "tokenizer_config.json").string(),
                                    a.out + "/tokenizer_config.json");
        if (!s) return fail(s);
      }
    } else {
      // A SentencePiece vocabulary has no tokenizer.json: ship it as a vocabulary-only GGUF
      // that --tokenizer accepts.
      auto meta = gguf_vocab_from_gguf(*vocab_path, c.n_vocab);
      if (!meta) return fail(meta.status());
      GgufWriter w;
      for (const auto& [k, v] : *meta) w.set(k, v);
      const std::string vocab_out = a.out + "/tokenizer.gguf";
      if (Status s = w.write(vocab_out); !s) return fail(s);
      STRATA_LOG_WARN(
          "shape '{}' has a SentencePiece vocabulary and no tokenizer.json: wrote it "
          "as {}; run with --tokenizer {}",
          shape->name, vocab_out, vocab_out);
    }
  }
  STRATA_LOG_INFO("make-model: wrote {} in {:.1f} s", a.out, sw.elapsed_s());
  return 0;
}

}  // namespace

Command make_model_command() {
  auto args = std::make_shared<MakeModelArgs>();
  Command c;
  c.run = [args] { return make_model_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "make-model", "Write a random-weight model of a real architecture's exact shape");
    sub->add_option("--shape", args->shape, "Architecture shape: " + model_shape_names());
    sub->add_option("--dtype", args->dtype, "Weight type: f32, f16 or bf16")->capture_default_str();
    sub->add_option("--format", args->format,
                    "gguf (one file, tokenizer in its metadata) or safetensors (a Hugging Face "
                    "directory: config.json, shards, tokenizer.json)")
        ->capture_default_str();
    sub->add_option("-o,--out", args->out, "Output: a .gguf file, or a directory for safetensors");
    sub->add_option("--layers", args->layers,
                    "Override the number of layers (default: the real one)")
        ->check(CLI::PositiveNumber);
    sub->add_option("--seed", args->seed, "Random seed: the same seed gives the same bytes")
        ->capture_default_str();
    sub->add_option("--shared-dir", args->shared_dir,
                    "The project's shared/ directory, where the tokenizers are (default: "
                    "$STRATA_SHARED_DIR, else the one beside the source tree)");
    sub->add_flag("--list", args->list, "List the known shapes and exit");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
