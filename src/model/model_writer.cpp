#include "model/model_writer.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/quant/parallel.h"
#include "format/gguf_writer.h"
#include "format/safetensors_writer.h"
#include "model/hf_config.h"
#include "model/tensor_spec.h"

namespace strata {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

enum class Fill { kWeight, kNorm };

struct TensorPlan {
  std::string gguf_name, hf_name;
  std::vector<int64_t> shape;
  Fill fill;
  int64_t permute_heads = 0;  // > 0: GGUF rows permuted for interleaved RoPE with this many heads
  // Stacked experts (GGUF): each expert's Hugging Face tensor, in order; their values end to
  // end are this tensor's, so the GGUF and the checkpoint of one seed hold the same experts.
  std::vector<std::string> hf_parts;
  bool f32_in_gguf = false;  // 1-D tensors and routers: F32 in a GGUF, as llama.cpp converts
};

// The tensors of `c` in file order. `stacked`: experts as a GGUF stacks them, else one
// tensor per expert as a Hugging Face checkpoint has them.
std::vector<TensorPlan> plan_tensors(ModelConfig c, bool stacked) {
  c.experts_split = !stacked;
  std::vector<TensorPlan> out;
  auto add = [&](const TensorSpec& s, int64_t permute_heads = 0) {
    if (s.name.empty() || !s.required) return;
    Fill fill = s.shape.size() == 1 && s.name.find(".bias") == std::string::npos ? Fill::kNorm
                                                                                 : Fill::kWeight;
    TensorPlan t{s.name,
                 hf_name_from_gguf(s.name, c.arch),
                 s.shape,
                 fill,
                 permute_heads,
                 {},
                 s.shape.size() == 1};
    if (s.name.find(".ffn_gate_inp.") != std::string::npos) t.f32_in_gguf = true;
    out.push_back(std::move(t));
  };
  auto g = global_tensor_specs(c);
  add(g[static_cast<int>(GlobalTensor::kTokEmbd)]);
  const bool permute = c.rope_style == RopeStyle::kInterleaved;
  for (int64_t l = 0; l < c.n_layer; ++l) {
    auto s = layer_tensor_specs(c, l);
    for (int k = 0; k < static_cast<int>(s.size()); ++k) {
      int64_t heads = 0;
      if (permute && k == static_cast<int>(LayerTensor::kWq)) heads = c.n_head;
      if (permute && k == static_cast<int>(LayerTensor::kWk)) heads = c.n_head_kv;
      add(s[k], heads);
      const ExpertProj proj = k == static_cast<int>(LayerTensor::kGateExps) ? ExpertProj::kGate
                              : k == static_cast<int>(LayerTensor::kUpExps) ? ExpertProj::kUp
                                                                            : ExpertProj::kDown;
      if (s[k].name.empty() || (k != static_cast<int>(LayerTensor::kGateExps) &&
                                k != static_cast<int>(LayerTensor::kUpExps) &&
                                k != static_cast<int>(LayerTensor::kDownExps))) {
        continue;
      }
      // The per-expert names this stacked tensor gathers.
      ModelConfig split = c;
      split.experts_split = true;
      const auto per_expert = layer_tensor_specs(split, l);
      for (int64_t e = 0; e < c.n_expert; ++e) {
        out.back().hf_parts.push_back(
            hf_name_from_gguf(per_expert[expert_spec_index(e, proj)].name, c.arch));
      }
    }
  }
  add(g[static_cast<int>(GlobalTensor::kOutputNorm)]);
  add(g[static_cast<int>(GlobalTensor::kOutput)]);
  return out;
}

// The tensor's values in Hugging Face layout.
std::vector<float> tensor_values(const TensorPlan& t, const RandomModelOptions& o) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  std::vector<float> v(n);
  if (t.fill == Fill::kNorm && o.norm_jitter == 0.0f) {
    std::fill(v.begin(), v.end(), 1.0f);
    return v;
  }
  if (t.hf_parts.empty()) {
    random_normal(o.seed, t.hf_name, v.data(), n);
  } else {
    const int64_t part = n / static_cast<int64_t>(t.hf_parts.size());
    for (size_t e = 0; e < t.hf_parts.size(); ++e) {
      random_normal(o.seed, t.hf_parts[e], v.data() + e * part, part);
    }
  }
  const float scale = t.fill == Fill::kNorm ? o.norm_jitter : o.weight_std;
  const float offset = t.fill == Fill::kNorm ? 1.0f : 0.0f;
  for (float& x : v) x = offset + scale * x;
  return v;
}

// Rounds each value to `dtype` and back, so an F32 copy holds exactly what `dtype` holds.
void round_through(DType dtype, std::vector<float>* v) {
  for (float& x : *v) {
    if (dtype == DType::kF16) x = f16_to_f32(f32_to_f16(x));
    if (dtype == DType::kBF16) x = bf16_to_f32(f32_to_bf16(x));
  }
}

// llama.cpp's convert permute: HF row h*hd + c*(hd/2) + i -> GGUF row h*hd + 2*i + c.
std::vector<float> permute_rows(const std::vector<float>& hf, int64_t n_heads, int64_t cols) {
  const int64_t rows = static_cast<int64_t>(hf.size()) / cols, hd = rows / n_heads, half = hd / 2;
  std::vector<float> out(hf.size());
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t c = 0; c < 2; ++c) {
        const float* src = hf.data() + (h * hd + c * half + i) * cols;
        std::copy(src, src + cols, out.data() + (h * hd + 2 * i + c) * cols);
      }
    }
  }
  return out;
}

// Writes one tensor's bytes in chunks of rows so multi-GB tensors never sit in memory twice.
// Quantizes on every hardware thread (the reference quantizers search per block).
Status write_values(AtomicFileWriter& w, const std::vector<float>& v, DType dtype) {
  constexpr size_t kChunk = 1 << 22;  // a multiple of every block size
  std::string buf;
  for (size_t at = 0; at < v.size(); at += kChunk) {
    const int64_t n = static_cast<int64_t>(std::min(kChunk, v.size() - at));
    buf.resize(row_bytes(dtype, n));
    quant::from_float_parallel(dtype, v.data() + at, buf.data(), n);
    STRATA_TRY(w.write(buf.data(), buf.size()));
  }
  return Status::ok();
}

// A quantized matrix of `n` elements from a pool of blocks (RandomModelOptions::block_pool).
Status write_pooled(AtomicFileWriter& w, const TensorPlan& t, const RandomModelOptions& o,
                    DType dtype, int64_t n) {
  const TypeTraits& tr = type_traits(dtype);
  const int64_t pool_elems = o.block_pool * tr.block_elems;
  std::vector<float> v(pool_elems);
  random_normal(o.seed, t.gguf_name + "#pool", v.data(), pool_elems);
  for (float& x : v) x *= o.weight_std;
  std::string pool(row_bytes(dtype, pool_elems), '\0');
  quant::from_float_parallel(dtype, v.data(), pool.data(), pool_elems);
  uint64_t state = o.seed ^ fnv1a(t.gguf_name + "#pick");
  constexpr int64_t kChunkBlocks = 1 << 14;
  std::string buf;
  for (int64_t b = 0, nb = n / tr.block_elems; b < nb; b += kChunkBlocks) {
    const int64_t m = std::min(kChunkBlocks, nb - b);
    buf.resize(static_cast<size_t>(m * tr.block_bytes));
    for (int64_t i = 0; i < m; ++i) {
      const uint64_t pick = splitmix64(state) % static_cast<uint64_t>(o.block_pool);
      std::memcpy(buf.data() + i * tr.block_bytes, pool.data() + pick * tr.block_bytes,
                  tr.block_bytes);
    }
    STRATA_TRY(w.write(buf.data(), buf.size()));
  }
  return Status::ok();
}

}  // namespace

void random_normal(uint64_t seed, const std::string& key, float* out, int64_t n) {
  uint64_t state = seed ^ fnv1a(key);
  // Box-Muller on 53-bit uniforms: fast, and the same bytes on every run of this build.
  for (int64_t i = 0; i < n; i += 2) {
    double u1 = ((splitmix64(state) >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    double u2 = (splitmix64(state) >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(r * std::cos(2.0 * M_PI * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
  }
}

uint32_t gguf_file_type(DType t) {
  // llama.cpp's llama_ftype: what most of the file's matrices are (informational).
  switch (t) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ4_1:
      return 3;
    case DType::kQ8_0:
      return 7;
    case DType::kQ5_0:
      return 8;
    case DType::kQ5_1:
      return 9;
    case DType::kQ2_K:
      return 10;
    case DType::kQ3_K:
      return 12;
    case DType::kQ4_K:
      return 14;
    case DType::kQ5_K:
      return 16;
    case DType::kQ6_K:
      return 18;
    case DType::kIQ4_NL:
      return 25;
    case DType::kIQ4_XS:
      return 30;
    case DType::kBF16:
      return 32;
    default:
      return 0;
  }
}

uint64_t model_weight_bytes(const ModelConfig& c, DType dtype, bool vectors_f32) {
  uint64_t total = 0;
  for (const auto& t : plan_tensors(c, vectors_f32)) {
    uint64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    const DType stored = vectors_f32 && t.f32_in_gguf ? DType::kF32 : dtype;
    total += n / t.shape.back() * row_bytes(stored, t.shape.back());
  }
  return total;
}

std::vector<std::pair<std::string, MetaValue>> gguf_model_metadata(const ModelConfig& c,
                                                                   const std::string& name,
                                                                   DType file_type) {
  const std::string a = c.arch_name;
  std::vector<std::pair<std::string, MetaValue>> m;
  auto u32 = [&](const std::string& k, int64_t v) {
    m.emplace_back(k, MetaValue::of_u32(static_cast<uint32_t>(v)));
  };
  m.emplace_back("general.architecture", MetaValue::of_string(a));
  m.emplace_back("general.name", MetaValue::of_string(name));
  u32("general.file_type", gguf_file_type(file_type));
  if (type_traits(file_type).block_elems > 1) u32("general.quantization_version", 2);
  u32(a + ".block_count", c.n_layer);
  u32(a + ".context_length", c.n_ctx_train);
  u32(a + ".embedding_length", c.n_embd);
  u32(a + ".feed_forward_length", c.n_ff);
  u32(a + ".attention.head_count", c.n_head);
  u32(a + ".attention.head_count_kv", c.n_head_kv);
  u32(a + ".attention.key_length", c.head_dim);
  u32(a + ".attention.value_length", c.head_dim);
  u32(a + ".rope.dimension_count", c.head_dim);
  m.emplace_back(a + ".rope.freq_base", MetaValue::of_f32(c.rope_theta));
  m.emplace_back(a + ".attention.layer_norm_rms_epsilon", MetaValue::of_f32(c.rms_eps));
  u32(a + ".vocab_size", c.n_vocab);
  if (c.sliding_window > 0) u32(a + ".attention.sliding_window", c.sliding_window);
  if (c.is_moe()) {
    u32(a + ".expert_count", c.n_expert);
    u32(a + ".expert_used_count", c.n_expert_used);
    // llama (Mixtral) experts are feed_forward_length wide; qwen3moe says so separately.
    if (c.arch == Arch::kQwen3Moe) u32(a + ".expert_feed_forward_length", c.n_ff_exp);
  }
  return m;
}

std::vector<float> permute_for_interleaved_rope(const std::vector<float>& hf, int64_t n_heads,
                                                int64_t cols) {
  return permute_rows(hf, n_heads, cols);
}

Status write_random_gguf(const ModelConfig& c, const RandomModelOptions& o,
                         const std::string& path) {
  GgufWriter w;
  for (auto& [k, v] : gguf_model_metadata(c, o.name, o.dtype)) w.set(k, std::move(v));
  for (const auto& [k, v] : o.extra_gguf_meta) w.set(k, v);
  if (o.gguf_type_for) w.set("general.file_type", MetaValue::of_u32(o.gguf_file_type));

  // As llama.cpp's converter: 1-D tensors (norms, biases) and routers are F32 whatever the
  // matrices are, holding the values the Hugging Face checkpoint of the same seed holds in
  // `dtype`.
  auto stored_type = [&o](const TensorPlan& t) {
    return t.f32_in_gguf     ? DType::kF32
           : o.gguf_type_for ? o.gguf_type_for(t.gguf_name, t.shape.back())
                             : o.dtype;
  };
  uint64_t total = 0;  // each tensor in the type it is stored in (a mix's own types)
  for (const TensorPlan& t : plan_tensors(c, /*stacked=*/true)) {
    uint64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    total += row_bytes(stored_type(t), static_cast<int64_t>(n));
  }
  auto written = std::make_shared<uint64_t>(0);
  if (c.llama3_rope_scaling) {
    // llama.cpp stores the llama3 scaling as per-pair divisors, always F32.
    w.add_tensor_f32("rope_freqs.weight", DType::kF32, {c.head_dim / 2}, c.llama3_rope_divisors());
  }
  for (const TensorPlan& t : plan_tensors(c, /*stacked=*/true)) {
    TensorPlan plan = t;
    const bool vector = t.f32_in_gguf;
    const DType stored = stored_type(t);
    w.add_tensor(t.gguf_name, stored, t.shape,
                 [plan, &o, written, total, vector, stored](AtomicFileWriter& fw) {
                   int64_t n = 1;
                   for (int64_t d : plan.shape) n *= d;
                   if (o.block_pool > 0 && !vector && type_traits(stored).block_elems > 1 &&
                       n > o.block_pool * type_traits(stored).block_elems) {
                     STRATA_TRY(write_pooled(fw, plan, o, stored, n));
                     *written += row_bytes(stored, n);
                     if (o.on_progress) o.on_progress(*written, total);
                     return Status::ok();
                   }
                   std::vector<float> v = tensor_values(plan, o);
                   if (vector) round_through(o.dtype, &v);
                   if (plan.permute_heads > 0)
                     v = permute_rows(v, plan.permute_heads, plan.shape[1]);
                   STRATA_TRY(write_values(fw, v, stored));
                   *written += row_bytes(stored, static_cast<int64_t>(v.size()));
                   if (o.on_progress) o.on_progress(*written, total);
                   return Status::ok();
                 });
  }
  return w.write(path);
}

Status write_random_hf(const ModelConfig& c, const RandomModelOptions& o, const std::string& dir,
                       uint64_t max_shard_bytes) {
  ::mkdir(dir.c_str(), 0755);
  nlohmann::json j;
  j["model_type"] = hf_model_type(c.arch);  // "mistral" even where its GGUF says "llama"
  j["architectures"] = {hf_architecture(c.arch)};
  j["hidden_size"] = c.n_embd;
  j["intermediate_size"] = c.n_ff;
  j["num_hidden_layers"] = c.n_layer;
  j["num_attention_heads"] = c.n_head;
  j["num_key_value_heads"] = c.n_head_kv;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.n_vocab;
  j["max_position_embeddings"] = c.n_ctx_train;
  j["rope_theta"] = c.rope_theta;
  j["rms_norm_eps"] = c.rms_eps;
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["hidden_act"] = "silu";
  j["torch_dtype"] = o.dtype == DType::kF32   ? "float32"
                     : o.dtype == DType::kF16 ? "float16"
                                              : "bfloat16";
  if (c.sliding_window > 0) j["sliding_window"] = c.sliding_window;
  if (c.arch == Arch::kMixtral) {
    j["num_local_experts"] = c.n_expert;
    j["num_experts_per_tok"] = c.n_expert_used;
  } else if (c.arch == Arch::kQwen3Moe) {
    j["num_experts"] = c.n_expert;
    j["num_experts_per_tok"] = c.n_expert_used;
    j["moe_intermediate_size"] = c.n_ff_exp;
    j["norm_topk_prob"] = c.moe_norm_topk;
    j["decoder_sparse_step"] = 1;
    j["mlp_only_layers"] = nlohmann::json::array();
  }
  if (c.llama3_rope_scaling) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_factor},
                         {"low_freq_factor", c.rope_low_freq_factor},
                         {"high_freq_factor", c.rope_high_freq_factor},
                         {"original_max_position_embeddings", c.rope_original_ctx}};
  }
  STRATA_TRY(write_json_file(dir + "/config.json", j));
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  const uint64_t total = model_weight_bytes(c, o.dtype);
  auto written = std::make_shared<uint64_t>(0);
  for (const TensorPlan& t : plan_tensors(c, /*stacked=*/false)) {
    TensorPlan plan = t;
    w.add_tensor(t.hf_name, o.dtype, t.shape, [plan, &o, written, total](AtomicFileWriter& fw) {
      std::vector<float> v = tensor_values(plan, o);
      STRATA_TRY(write_values(fw, v, o.dtype));
      *written += row_bytes(o.dtype, static_cast<int64_t>(v.size()));
      if (o.on_progress) o.on_progress(*written, total);
      return Status::ok();
    });
  }
  return w.write_sharded(dir, max_shard_bytes);
}

}  // namespace strata
