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
    case DType::kQ3_K:
      t = DType::kQ4_0;
      break;
    case DType::kIQ4_XS:
      t = DType::kIQ4_NL;
      break;
    case DType::kQ4_K:
      t = DType::kQ5_0;
      break;
    case DType::kQ5_K:
      t = DType::kQ5_1;
      break;
    case DType::kQ6_K:
      t = DType::kQ8_0;
      break;
    default:
      break;
  }
  return row_elems % type_traits(t).block_elems == 0 ? t : DType::kF16;
}

int64_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::strtoll(name.c_str() + 4, nullptr, 10);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Converts `t` (float, any of the files) to `type` into `fw`, rows in chunks of ~16M elements
// (whole tensors when rows are permuted: q/k, at most tens of MB). `done` counts source bytes.
Status write_quantized(const TensorInfo& t, DType type, int64_t permute_heads,
                       std::vector<File>& files, AtomicFileWriter& fw, const QuantizeOptions& opts,
                       uint64_t* done, uint64_t total) {
  const int64_t cols = t.shape.back();
  const TypeTraits& from = type_traits(*t.dtype);
  const int64_t rows = t.n_elements() / cols;
  const uint64_t src_row = row_bytes(*t.dtype, cols);
  const int64_t chunk = permute_heads > 0 ? rows : std::max<int64_t>(1, (16 << 20) / cols);
  std::vector<char> raw, q;
  std::vector<float> f;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t nr = std::min(chunk, rows - r0);
    raw.resize(src_row * nr);
    STRATA_TRY(files[t.file_index].read_at(t.offset + r0 * src_row, raw.data(), raw.size()));
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
      {"Q8_0", "Q8_0", DType::kQ8_0, R::kPlain, 7},
      {"Q6_K", "Q6_K", DType::kQ6_K, R::kPlain, 18},
      {"Q5_K_M", "Q5_K_M", DType::kQ5_K, R::kQ5_K_M, 17},
      {"Q5_K", "Q5_K_M", DType::kQ5_K, R::kQ5_K_M, 17},
      {"Q5_K_S", "Q5_K_S", DType::kQ5_K, R::kQ5_K_S, 16},
      {"Q5_1", "Q5_1", DType::kQ5_1, R::kPlain, 9},
      {"Q5_0", "Q5_0", DType::kQ5_0, R::kPlain, 8},
      {"Q4_K_M", "Q4_K_M", DType::kQ4_K, R::kQ4_K_M, 15},
      {"Q4_K", "Q4_K_M", DType::kQ4_K, R::kQ4_K_M, 15},
      {"Q4_K_S", "Q4_K_S", DType::kQ4_K, R::kQ4_K_S, 14},
      {"Q4_1", "Q4_1", DType::kQ4_1, R::kPlain, 3},
      {"Q4_0", "Q4_0", DType::kQ4_0, R::kPlain, 2},
      {"IQ4_XS", "IQ4_XS", DType::kIQ4_XS, R::kIQ4, 30},
      {"IQ4_NL", "IQ4_NL", DType::kIQ4_NL, R::kIQ4, 25},
      {"Q3_K_L", "Q3_K_L", DType::kQ3_K, R::kQ3_K_L, 13},
      {"Q3_K_M", "Q3_K_M", DType::kQ3_K, R::kQ3_K_M, 12},
      {"Q3_K", "Q3_K_M", DType::kQ3_K, R::kQ3_K_M, 12},
      {"Q3_K_S", "Q3_K_S", DType::kQ3_K, R::kQ3_K_S, 11},
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
  // llama.cpp matches these by substring: stacked (ffn_down_exps) and per-expert (ffn_down.3)
  // experts count as their dense tensor.
  const bool down = name.find(".ffn_down") != std::string::npos;
  if (name.find(".ffn_gate_inp.") != std::string::npos) return DType::kF32;
  if (output) {
    t = mix.base == DType::kQ8_0 ? DType::kQ8_0 : DType::kQ6_K;
  } else if (ends_with(name, ".attn_v.weight")) {
    switch (mix.rule) {
      case R::kQ2_K:
        t = shape.n_gqa >= 4 ? DType::kQ4_K : DType::kQ3_K;
        break;
      case R::kQ3_K_M:
        t = i < 2 ? DType::kQ5_K : DType::kQ4_K;
        break;
      case R::kQ3_K_L:
        t = DType::kQ5_K;
        break;
      case R::kQ4_K_S:
        t = i < 4 ? DType::kQ5_K : t;
        break;
      case R::kQ4_K_M:
      case R::kQ5_K_M:
        t = more_bits_layer(i, n) ? DType::kQ6_K : t;
        break;
      case R::kIQ4:
        t = shape.n_gqa >= 4 ? DType::kQ5_K : t;
        break;
      default:
        break;
    }
    // "for the 8-expert model, bumping this to Q8_0 trades just ~128MB" (llama.cpp).
    if (shape.n_expert == 8) t = DType::kQ8_0;
  } else if (ends_with(name, ".attn_k.weight") && shape.n_expert == 8) {
    t = DType::kQ8_0;
  } else if (down) {
    switch (mix.rule) {
      case R::kQ2_K:
        t = DType::kQ3_K;
        break;
      case R::kQ3_K_M:
        t = i < n / 16 ? DType::kQ5_K : DType::kQ4_K;
        break;
      case R::kQ3_K_L:
        t = DType::kQ5_K;
        break;
      case R::kQ4_K_S:
      case R::kIQ4:
        t = i < n / 8 ? DType::kQ5_K : t;
        break;
      case R::kQ4_K_M:
      case R::kQ5_K_M:
        t = more_bits_layer(i, n) ? DType::kQ6_K : t;
        break;
      default:
        break;
    }
  } else if (ends_with(name, ".attn_output.weight") && shape.n_expert == 8) {
    switch (mix.rule) {
      case R::kQ2_K:
      case R::kQ3_K_S:
      case R::kQ3_K_M:
      case R::kQ4_K_S:
      case R::kQ4_K_M:
      case R::kIQ4:
        t = DType::kQ5_K;
        break;
      default:
        break;
    }
  } else if (ends_with(name, ".attn_output.weight")) {
    switch (mix.rule) {
      case R::kQ2_K:
        t = DType::kQ3_K;
        break;
      case R::kQ3_K_M:
        t = DType::kQ4_K;
        break;
      case R::kQ3_K_L:
        t = DType::kQ5_K;
        break;
      default:
        break;
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
    // As llama.cpp's converter names them.
    if (gc.arch == Arch::kMistral || gc.arch == Arch::kMixtral) gc.arch_name = "llama";
    if (gc.arch == Arch::kQwen3Moe) gc.arch_name = "qwen3moe";
    for (auto& [k, v] : gguf_model_metadata(gc, src.name, mix.base)) w.set(k, std::move(v));
    // The vocabulary: tokenizer.json translated, or the vocabulary-only tokenizer.gguf that
    // make-model writes beside a SentencePiece model's shards, copied.
    const std::string vocab_gguf = src.path + "/tokenizer.gguf";
    std::error_code ec;
    Metadata vocab;
    if (!src.tokenizer_json.empty()) {
      // The pre-tokenizer name llama.cpp knows a byte-level vocabulary by (SentencePiece-style
      // files need none).
      const bool qwen =
          c.arch == Arch::kQwen2 || c.arch == Arch::kQwen3 || c.arch == Arch::kQwen3Moe;
      const std::string pre = qwen ? "qwen2" : "llama-bpe";
      STRATA_ASSIGN_OR_RETURN(vocab,
                              gguf_vocab_from_tokenizer_json(src.tokenizer_json, pre, c.n_vocab));
    } else if (std::filesystem::is_regular_file(vocab_gguf, ec)) {
      STRATA_ASSIGN_OR_RETURN(vocab, gguf_vocab_from_gguf(vocab_gguf, c.n_vocab));
    } else {
      return Status::errorf("{}: no tokenizer.json (or tokenizer.gguf) to carry into the GGUF",
                            src.path);
    }
    for (auto& [k, v] : vocab) w.set(k, std::move(v));
  } else {
    return Status::errorf("{}: strata quantize reads GGUF files and Hugging Face directories",
                          src.path);
  }
  w.set("general.file_type", MetaValue::of_u32(mix.file_type));

  // Tensors in llama.cpp's order: the embedding, each layer, the output norm and head. A
  // stacked expert tensor gathers its experts' tensors when the source has one per expert.
  struct OutTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<const TensorInfo*> parts;  // rows end to end
  };
  std::vector<OutTensor> order;
  auto add = [&](const TensorSpec& s) {
    if (s.name.empty()) return;
    if (const TensorInfo* t = src.index.find(s.name)) order.push_back({t->name, t->shape, {t}});
  };
  const auto g = global_tensor_specs(c);
  add(g[static_cast<int>(GlobalTensor::kTokEmbd)]);
  add(g[static_cast<int>(GlobalTensor::kRopeFreqs)]);
  ModelConfig stacked_config = c;
  stacked_config.experts_split = false;
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const auto specs = layer_tensor_specs(c, l);
    for (int k = 0; k < kLayerTensorCount; ++k) add(specs[k]);
    if (!c.experts_split) continue;
    const auto stacked = layer_tensor_specs(stacked_config, l);
    for (ExpertProj p : {ExpertProj::kGate, ExpertProj::kUp, ExpertProj::kDown}) {
      const LayerTensor lt = p == ExpertProj::kGate ? LayerTensor::kGateExps
                             : p == ExpertProj::kUp ? LayerTensor::kUpExps
                                                    : LayerTensor::kDownExps;
      OutTensor o{stacked[static_cast<int>(lt)].name, stacked[static_cast<int>(lt)].shape, {}};
      for (int64_t e = 0; e < c.n_expert; ++e) {
        const TensorInfo* t = src.index.find(specs[expert_spec_index(e, p)].name);
        if (!t)
          return Status::errorf("{}: missing {}", src.path, specs[expert_spec_index(e, p)].name);
        o.parts.push_back(t);
      }
      order.push_back(std::move(o));
    }
  }
  add(g[static_cast<int>(GlobalTensor::kOutputNorm)]);
  add(g[static_cast<int>(GlobalTensor::kOutput)]);
  QuantModelShape shape;
  shape.n_layer = c.n_layer;
  shape.n_gqa = c.n_head_kv > 0 ? c.n_head / c.n_head_kv : 1;
  shape.tied_output = src.index.find("output.weight") == nullptr;
  shape.n_expert = c.n_expert;
  // A Hugging Face Llama 3.x directory carries its RoPE scaling in config.json; GGUF files
  // carry it as this tensor.
  if (hf && c.llama3_rope_scaling && !src.index.find("rope_freqs.weight")) {
    w.add_tensor_f32("rope_freqs.weight", DType::kF32, {c.head_dim / 2}, c.llama3_rope_divisors());
  }

  uint64_t total = 0;
  for (const OutTensor& o : order) {
    for (const TensorInfo* t : o.parts) total += t->nbytes;
  }
  auto done = std::make_shared<uint64_t>(0);
  auto files = std::make_shared<std::vector<File>>();
  for (const std::string& path : src.index.files) {
    STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
    files->push_back(std::move(f));
  }
  // GGUF "llama" files rotate interleaved pairs: a Hugging Face Llama/Mistral's q/k rows are
  // permuted (Qwen rotates halves in both).
  const bool interleave =
      hf && (c.arch == Arch::kLlama || c.arch == Arch::kMistral || c.arch == Arch::kMixtral);
  for (const OutTensor& o : order) {
    const int64_t cols = o.shape.back();
    const bool vector = o.shape.size() == 1;
    const DType type = vector ? DType::kF32 : quant_type_for(mix, o.name, shape, cols);
    int64_t permute_heads = 0;
    if (interleave && ends_with(o.name, ".attn_q.weight")) permute_heads = c.n_head;
    if (interleave && ends_with(o.name, ".attn_k.weight")) permute_heads = c.n_head_kv;
    w.add_tensor(o.name, type, o.shape,
                 [o, type, permute_heads, files, done, total, &opts](AtomicFileWriter& fw) {
                   for (const TensorInfo* t : o.parts) {
                     STRATA_TRY(write_quantized(*t, type, permute_heads, *files, fw, opts,
                                                done.get(), total));
                   }
                   return Status::ok();
                 });
  }
  return w.write(out);
}

}  // namespace strata
