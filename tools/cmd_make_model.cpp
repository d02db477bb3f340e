// strata make-model: a random-weight model (normal(0, 0.02) matrices, norms 1) of a real
// architecture's exact shape, with that family's real tokenizer, as GGUF or as a Hugging
// Face directory. Same shape, dtype, layers and seed give the same bytes.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/data_dir.h"
#include "core/file.h"
#include "core/log.h"
#include "core/timer.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "model/model_writer.h"
#include "model/quantize.h"
#include "model/shapes.h"
#include "store/placement.h"
#include "tokenizer/gguf_vocab_writer.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace strata::cli {

namespace {

struct MakeModelArgs {
  std::string shape;
  std::string dtype = "f16";
  std::string format = "gguf";
  std::string out;
  int64_t layers = 0;
  uint64_t seed = 0;
  int64_t block_pool = 0;
  float std = 0.02f;
  bool list = false;
};

// f32, f16, bf16 for either format; any weight type strata computes with (q4_k, iq4_xs...)
// for GGUF, quantized by the reference quantizer as the tensors are written.
Result<DType> parse_dtype(const std::string& s, const std::string& format, const ModelConfig& c) {
  const std::optional<DType> t = computable_dtype_by_name(s);
  if (!t) {
    return Status::errorf(
        "--dtype must be f32, f16, bf16 or a GGUF weight type (q8_0, q4_k, "
        "iq4_xs...), got '{}'",
        s);
  }
  const TypeTraits& tr = type_traits(*t);
  if (tr.block_elems > 1 && format != "gguf") {
    return Status::errorf("--dtype {} needs --format gguf (safetensors holds f32, f16, bf16)", s);
  }
  for (int64_t dim : {c.n_embd, c.n_ff, c.q_dim()}) {
    if (dim % tr.block_elems != 0) {
      return Status::errorf(
          "--dtype {} needs rows that are multiples of {}; this shape has rows of {}", s,
          tr.block_elems, dim);
    }
  }
  return *t;
}

// Copies `from` to `to`, decompressing a .zst source.
Status copy_file_atomic(const std::string& from, const std::string& to) {
  STRATA_ASSIGN_OR_RETURN(std::string bytes, read_file_decompressed(from, 256ull << 20));
  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::create(to));
  STRATA_TRY(w.write(bytes.data(), bytes.size()));
  return w.commit();
}

int make_model_main(const MakeModelArgs& a) {
  if (a.list) {
    std::printf("%-14s %-32s %6s %6s %6s %5s %5s %5s %7s %8s  tokenizer\n", "shape", "model",
                "hidden", "ffn", "layers", "heads", "kv", "hdim", "vocab", "experts");
    for (const ModelShape& s : model_shapes()) {
      const ModelConfig& c = s.config;
      // Mixtures of experts: "used/total", and ffn is each expert's width.
      const std::string experts =
          c.is_moe() ? fmt::format("{}/{}", c.n_expert_used, c.n_expert) : "-";
      std::printf("%-14s %-32s %6ld %6ld %6ld %5ld %5ld %5ld %7ld %8s  %s\n", s.name.c_str(),
                  s.display_name.c_str(), long(c.n_embd), long(c.is_moe() ? c.n_ff_exp : c.n_ff),
                  long(c.n_layer), long(c.n_head), long(c.n_head_kv), long(c.head_dim),
                  long(c.n_vocab), experts.c_str(), s.vocab_file.c_str());
    }
    return 0;
  }
  if (a.shape.empty() || a.out.empty()) {
    return fail(Status::errorf("make-model needs --shape NAME and --out PATH (shapes: {})",
                               model_shape_names()));
  }
  auto shape = find_model_shape(a.shape, a.layers);
  if (!shape) return fail(shape.status());
  if (a.format != "gguf" && a.format != "safetensors") {
    return fail(Status::errorf("--format must be gguf or safetensors, got '{}'", a.format));
  }
  // A llama.cpp mix by name (q4_k_m, q5_k_s, ...): its base type, and each matrix's own.
  std::optional<QuantMix> mix;
  if (!computable_dtype_by_name(a.dtype) && a.format == "gguf") {
    if (auto m = parse_quant_mix(a.dtype); m && m->rule != QuantMix::Rule::kPlain) mix = *m;
  }
  auto dtype =
      parse_dtype(mix ? std::string(dtype_name(mix->base)) : a.dtype, a.format, shape->config);
  if (!dtype) return fail(dtype.status());
  auto vocab_path = find_data_file(shape->vocab_file);
  if (!vocab_path) return fail(vocab_path.status());
  const ModelConfig& c = shape->config;

  RandomModelOptions o;
  o.dtype = *dtype;
  if (mix) {
    QuantModelShape qs;
    qs.n_layer = shape->config.n_layer;
    qs.n_gqa = shape->config.n_head / shape->config.n_head_kv;
    qs.tied_output = shape->config.tied_embeddings;
    qs.n_expert = shape->config.n_expert;
    o.gguf_type_for = [m = *mix, qs](const std::string& name, int64_t row) {
      return quant_type_for(m, name, qs, row);
    };
    o.gguf_file_type = mix->file_type;
  }
  o.seed = a.seed;
  if (a.block_pool > 0 && a.format != "gguf")
    return fail(Status::error("--block-pool needs --format gguf"));
  o.block_pool = a.block_pool;
  o.weight_std = a.std;
  o.name = shape->name + (a.layers > 0 ? fmt::format("-{}L", c.n_layer) : "") + "-random";
  auto bar = std::make_shared<ProgressLine>("make-model " + a.out, 64ull << 20);
  o.on_progress = [bar](uint64_t done, uint64_t total) { bar->update(done, total); };
  STRATA_LOG_INFO(
      "make-model: {} ({}): {} layers, hidden {}, ffn {}, heads {}/{} kv, vocab {}, "
      "{} {}, seed {}: {} of weights",
      shape->name, shape->display_name, c.n_layer, c.n_embd,
      c.is_moe()
          ? fmt::format("{} experts of {}, {} per token", c.n_expert, c.n_ff_exp, c.n_expert_used)
          : std::to_string(c.n_ff),
      c.n_head, c.n_head_kv, c.n_vocab, a.format, mix ? mix->name : dtype_name(*dtype), a.seed,
      format_bytes(model_weight_bytes(c, *dtype)));
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
  bar->finish(true);
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
    sub->add_option("--dtype", args->dtype,
                    "Weight type: f32, f16, bf16, or for GGUF any type strata computes with "
                    "(q8_0, q4_0, q4_k, q6_k, iq4_xs, ...; 1-D tensors stay f32), or a llama.cpp "
                    "mix such as q4_k_m (each matrix the type llama-quantize would give it)")
        ->capture_default_str();
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
    sub->add_option("--std", args->std, "Standard deviation of the matrices' normal weights")
        ->capture_default_str();
    sub->add_option("--block-pool", args->block_pool,
                    "GGUF with a quantized type: fill each large matrix with blocks drawn from a "
                    "pool of this many blocks quantized from its random values (same layout and "
                    "statistics, written at disk speed; e.g. 65536 for 30B shapes). 0: quantize "
                    "every block")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    sub->add_flag("--list", args->list, "List the known shapes and exit");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
