#include "model/quantize.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/file.h"
#include "core/quant/parallel.h"
#include "format/gguf_writer.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/tensor_spec.h"
#include "tokenizer/gguf_vocab_writer.h"
#include "tokenizer/tokenizer.h"

namespace strata {

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// llama.cpp gives these layers of attn_v and ffn_down more bits in its _M mixes: the first
// and last eighth, and every third layer in between.
bool more_bits_layer(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// A type whose blocks do not divide the row falls back as llama.cpp's does: a 256-element type
// to a 32-element one of about as many bits, and F16 where 32 does not divide the row either.
DType fallback_for_row(DType t, int64_t row_elems) {
  if (row_elems % type_traits(t).block_elems == 0) return t;
  switch (t) {
    case DType::kQ2_K:
    case DType::kQ3_K: t = DType::kQ4_0; break;
    case DType::kIQ4_XS: t = DType::kIQ4_NL; break;
    case DType::kQ4_K: t = DType::kQ5_0; break;
    case DType::kQ5_K: t = DType::kQ5_1; break;
    case DType::kQ6_K: t = DType::kQ8_0; break;
    default: break;
  }
  return row_elems % type_traits(t).block_elems == 0 ? t : DType::kF16;
}

int64_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::strtoll(name.c_str() + 4, nullptr, 10);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<QuantMix> parse_quant_mix(const std::string& name) {
  using R = QuantMix::Rule;
  struct Entry {
    const char* name;
    const char* canonical;
    DType base;
    R rule;
    uint32_t file_type;
  };
  static const Entry kMixes[] = {
      {"Q8_0", "Q8_0", DType::kQ8_0, R::kPlain, 7},       {"Q6_K", "Q6_K", DType::kQ6_K, R::kPlain, 18},
      {"Q5_K_M", "Q5_K_M", DType::kQ5_K, R::kQ5_K_M, 17}, {"Q5_K", "Q5_K_M", DType::kQ5_K, R::kQ5_K_M, 17},
      {"Q5_K_S", "Q5_K_S", DType::kQ5_K, R::kQ5_K_S, 16}, {"Q5_1", "Q5_1", DType::kQ5_1, R::kPlain, 9},
      {"Q5_0", "Q5_0", DType::kQ5_0, R::kPlain, 8},       {"Q4_K_M", "Q4_K_M", DType::kQ4_K, R::kQ4_K_M, 15},
      {"Q4_K", "Q4_K_M", DType::kQ4_K, R::kQ4_K_M, 15},   {"Q4_K_S", "Q4_K_S", DType::kQ4_K, R::kQ4_K_S, 14},
      {"Q4_1", "Q4_1", DType::kQ4_1, R::kPlain, 3},       {"Q4_0", "Q4_0", DType::kQ4_0, R::kPlain, 2},
      {"IQ4_XS", "IQ4_XS", DType::kIQ4_XS, R::kIQ4, 30},  {"IQ4_NL", "IQ4_NL", DType::kIQ4_NL, R::kIQ4, 25},
      {"Q3_K_L", "Q3_K_L", DType::kQ3_K, R::kQ3_K_L, 13}, {"Q3_K_M", "Q3_K_M", DType::kQ3_K, R::kQ3_K_M, 12},
      {"Q3_K", "Q3_K_M", DType::kQ3_K, R::kQ3_K_M, 12},   {"Q3_K_S", "Q3_K_S", DType::kQ3_K, R::kQ3_K_S, 11},
      {"Q2_K", "Q2_K", DType::kQ2_K, R::kQ2_K, 10},
  };
  const std::string n = upper(name);
  std::string names;
  for (const Entry& e : kMixes) {
    if (n == e.name) return QuantMix{e.canonical, e.base, e.rule, e.file_type};
    names += std::string(names.empty() ? "" : ", ") + e.name;
  }
  return Status::errorf("unknown quantization '{}' (accepted: {})", name, names);
}

DType quant_type_for(const QuantMix& mix, const std::string& name, const QuantModelShape& shape,
                     int64_t row_elems) {
  using R = QuantMix::Rule;
  DType t = mix.base;
  const int64_t i = layer_of(name), n = shape.n_layer;
  const bool output = name == "output.weight" || (shape.tied_output && name == "token_embd.weight");
  if (output) {
    t = mix.base == DType::kQ8_0 ? DType::kQ8_0 : DType::kQ6_K;
  } else if (ends_with(name, ".attn_v.weight")) {
    switch (mix.rule) {
      case R::kQ2_K: t = shape.n_gqa >= 4 ? DType::kQ4_K : DType::kQ3_K; break;
      case R::kQ3_K_M: t = i < 2 ? DType::kQ5_K : DType::kQ4_K; break;
      case R::kQ3_K_L: t = DType::kQ5_K; break;
      case R::kQ4_K_S: t = i < 4 ? DType::kQ5_K : t; break;
      case R::kQ4_K_M:
      case R::kQ5_K_M: t = more_bits_layer(i, n) ? DType::kQ6_K : t; break;
      case R::kIQ4: t = shape.n_gqa >= 4 ? DType::kQ5_K : t; break;
      default: break;
    }
  } else if (ends_with(name, ".ffn_down.weight")) {
    switch (mix.rule) {
      case R::kQ2_K: t = DType::kQ3_K; break;
      case R::kQ3_K_M: t = i < n / 16 ? DType::kQ5_K : DType::kQ4_K; break;
      case R::kQ3_K_L: t = DType::kQ5_K; break;
      case R::kQ4_K_S:
      case R::kIQ4: t = i < n / 8 ? DType::kQ5_K : t; break;
      case R::kQ4_K_M:
      case R::kQ5_K_M: t = more_bits_layer(i, n) ? DType::kQ6_K : t; break;
      default: break;
    }
  } else if (ends_with(name, ".attn_output.weight")) {
    switch (mix.rule) {
      case R::kQ2_K: t = DType::kQ3_K; break;
      case R::kQ3_K_M: t = DType::kQ4_K; break;
      case R::kQ3_K_L: t = DType::kQ5_K; break;
      default: break;
    }
  }
  return fallback_for_row(t, row_elems);
}

Status quantize_model(const ModelSource& src, const QuantMix& mix, const std::string& out,
                      const QuantizeOptions& opts) {
  const ModelConfig& c = src.config;
  for (const TensorInfo& t : src.index.tensors()) {
    if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16) {
      return Status::errorf("{}: tensor '{}' is {}: strata quantize reads F32, F16 or BF16 models",
                            src.path, t.name, t.dtype_name);
    }
  }
  GgufWriter w;
  const bool hf = src.format == ModelFormat::kSafetensors;
  if (src.format == ModelFormat::kGguf) {
    for (const auto& [k, v] : src.meta) w.set(k, v);
    for (auto& [k, v] : gguf_model_metadata(c, src.name, mix.base)) {
      if (k == "general.file_type" || k == "general.quantization_version") w.set(k, std::move(v));
    }
  } else if (hf) {
    ModelConfig gc = c;
    if (gc.arch == Arch::kMistral) gc.arch_name = "llama";  // as llama.cpp's converter names it
    for (auto& [k, v] : gguf_model_metadata(gc, src.name, mix.base)) w.set(k, std::move(v));
    // The vocabulary: tokenizer.json translated, or the vocabulary-only tokenizer.gguf that
    // make-model writes beside a SentencePiece model's shards, copied.
    const std::string vocab_gguf = src.path + "/tokenizer.gguf";
    std::error_code ec;
    Metadata vocab;
    if (!src.tokenizer_json.empty()) {
      // The pre-tokenizer name llama.cpp knows a byte-level vocabulary by (SentencePiece-style
      // files need none).
      const std::string pre = c.arch == Arch::kQwen2 || c.arch == Arch::kQwen3 ? "qwen2" : "llama-bpe";
      STRATA_ASSIGN_OR_RETURN(vocab, gguf_vocab_from_tokenizer_json(src.tokenizer_json, pre, c.n_vocab));
    } else if (std::filesystem::is_regular_file(vocab_gguf, ec)) {
      STRATA_ASSIGN_OR_RETURN(vocab, gguf_vocab_from_gguf(vocab_gguf, c.n_vocab));
    } else {
      return Status::errorf("{}: no tokenizer.json (or tokenizer.gguf) to carry into the GGUF", src.path);
    }
    for (auto& [k, v] : vocab) w.set(k, std::move(v));
  } else {
    return Status::errorf("{}: strata quantize reads GGUF files and Hugging Face directories",
                          src.path);
  }
  w.set("general.file_type", MetaValue::of_u32(mix.file_type));

  // Tensors in llama.cpp's order: the embedding, each layer, the output norm and head.
  std::vector<const TensorInfo*> order;
  auto add = [&](const TensorSpec& s) {
    if (s.name.empty()) return;
    if (const TensorInfo* t = src.index.find(s.name)) order.push_back(t);
  };
  const auto g = global_tensor_specs(c);
  add(g[static_cast<int>(GlobalTensor::kTokEmbd)]);
  add(g[static_cast<int>(GlobalTensor::kRopeFreqs)]);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    for (const TensorSpec& s : layer_tensor_specs(c, l)) add(s);
  }
  add(g[static_cast<int>(GlobalTensor::kOutputNorm)]);
  add(g[static_cast<int>(GlobalTensor::kOutput)]);
  QuantModelShape shape;
  shape.n_layer = c.n_layer;
  shape.n_gqa = c.n_head_kv > 0 ? c.n_head / c.n_head_kv : 1;
  shape.tied_output = src.index.find("output.weight") == nullptr;
  // A Hugging Face Llama 3.x directory carries its RoPE scaling in config.json; GGUF files
  // carry it as this tensor.
  if (hf && c.llama3_rope_scaling && !src.index.find("rope_freqs.weight")) {
    w.add_tensor_f32("rope_freqs.weight", DType::kF32, {c.head_dim / 2}, c.llama3_rope_divisors());
  }

  uint64_t total = 0;
  for (const TensorInfo* t : order) total += t->nbytes;
  auto done = std::make_shared<uint64_t>(0);
  auto files = std::make_shared<std::vector<File>>();
  for (const std::string& path : src.index.files) {
    STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
    files->push_back(std::move(f));
  }
  // GGUF "llama" files rotate interleaved pairs: a Hugging Face Llama/Mistral's q/k rows are
  // permuted (Qwen rotates halves in both).
  const bool interleave = hf && (c.arch == Arch::kLlama || c.arch == Arch::kMistral);
  for (const TensorInfo* t : order) {
    const int64_t cols = t->shape.back();
    const bool vector = t->shape.size() == 1;
    const DType type = vector ? DType::kF32 : quant_type_for(mix, t->name, shape, cols);
    int64_t permute_heads = 0;
    if (interleave && ends_with(t->name, ".attn_q.weight")) permute_heads = c.n_head;
    if (interleave && ends_with(t->name, ".attn_k.weight")) permute_heads = c.n_head_kv;
    w.add_tensor(t->name, type, t->shape, [t, type, cols, permute_heads, files, done, total, &opts](AtomicFileWriter& fw) {
      const TypeTraits& from = type_traits(*t->dtype);
      const int64_t rows = t->n_elements() / cols;
      const uint64_t src_row = row_bytes(*t->dtype, cols);
      // Whole tensors when their rows must be permuted (q/k: at most tens of MB), else rows
      // in chunks of ~16M elements.
      const int64_t chunk = permute_heads > 0 ? rows : std::max<int64_t>(1, (16 << 20) / cols);
      std::vector<char> raw;
      std::vector<float> f;
      std::vector<char> q;
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t nr = std::min(chunk, rows - r0);
        raw.resize(src_row * nr);
        STRATA_TRY((*files)[t->file_index].read_at(t->offset + r0 * src_row, raw.data(), raw.size()));
        f.resize(nr * cols);
        from.to_float(raw.data(), f.data(), nr * cols);
        if (permute_heads > 0) f = permute_for_interleaved_rope(f, permute_heads, cols);
        q.resize(row_bytes(type, cols) * nr);
        quant::from_float_parallel(type, f.data(), q.data(), nr * cols, opts.n_threads);
        STRATA_TRY(fw.write(q.data(), q.size()));
        *done += raw.size();
        if (opts.on_progress) opts.on_progress(*done, total);
      }
      return Status::ok();
    });
  }
  return w.write(out);
}

}  // namespace strata
