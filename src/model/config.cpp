#include "model/config.h"

#include <cmath>

namespace strata {

const char* arch_display_name(Arch a) {
  switch (a) {
    case Arch::kLlama:
      return "llama";
    case Arch::kMistral:
      return "mistral";
    case Arch::kQwen2:
      return "qwen2";
    case Arch::kQwen3:
      return "qwen3";
    case Arch::kMixtral:
      return "mixtral";
    case Arch::kQwen3Moe:
      return "qwen3moe";
  }
  return "?";
}

std::vector<float> ModelConfig::llama3_rope_divisors() const {
  // Llama 3.1's scheme: long wavelengths are divided by `factor`, short ones kept, the band
  // between is interpolated smoothly.
  std::vector<float> div(static_cast<size_t>(head_dim / 2), 1.0f);
  if (!llama3_rope_scaling) return div;
  const double low_wavelen = static_cast<double>(rope_original_ctx) / rope_low_freq_factor;
  const double high_wavelen = static_cast<double>(rope_original_ctx) / rope_high_freq_factor;
  for (size_t i = 0; i < div.size(); ++i) {
    double freq = 1.0 / std::pow(static_cast<double>(rope_theta),
                                 static_cast<double>(2 * i) / static_cast<double>(head_dim));
    double wavelen = 2.0 * M_PI / freq;
    if (wavelen < high_wavelen) {
      div[i] = 1.0f;
    } else if (wavelen > low_wavelen) {
      div[i] = rope_factor;
    } else {
      double smooth = (static_cast<double>(rope_original_ctx) / wavelen - rope_low_freq_factor) /
                      (rope_high_freq_factor - rope_low_freq_factor);
      div[i] = static_cast<float>(1.0 / ((1.0 - smooth) / rope_factor + smooth));
    }
  }
  return div;
}

Status check_moe_config(const ModelConfig& c, const std::string& source) {
  if (c.n_expert == 0) return Status::ok();
  if (c.n_expert < 0 || c.n_expert > kMaxExperts) {
    return Status::errorf("{}: {} experts per layer is out of range (1..{})", source, c.n_expert,
                          kMaxExperts);
  }
  if (c.n_expert_used < 1 || c.n_expert_used > c.n_expert) {
    return Status::errorf("{}: {} experts used per token, with {} experts (need 1..{})", source,
                          c.n_expert_used, c.n_expert, c.n_expert);
  }
  if (c.n_ff_exp < 1 || c.n_ff_exp > (1 << 20)) {
    return Status::errorf("{}: expert feed-forward length {} is out of range", source, c.n_ff_exp);
  }
  return Status::ok();
}

namespace {

// {arch}.expert_count and friends. llama (Mixtral) experts are feed_forward_length wide;
// qwen3moe's say expert_feed_forward_length (llama.cpp falls back to feed_forward_length /
// expert_used_count without it, and so do we).
Status moe_from_gguf_metadata(const Metadata& meta, const std::string& p, const std::string& source,
                              ModelConfig* c) {
  const auto count = meta_int(meta, p + "expert_count");
  if (!count || *count == 0) {
    if (c->arch == Arch::kQwen3Moe) {
      return Status::errorf("{}: qwen3moe without '{}expert_count'", source, p);
    }
    return Status::ok();
  }
  if (c->arch != Arch::kLlama && c->arch != Arch::kQwen3Moe) {
    return Status::errorf(
        "{}: '{}expert_count' = {}, but strata runs experts only for llama "
        "(Mixtral) and qwen3moe",
        source, p, *count);
  }
  c->n_expert = *count;
  const auto used = meta_int(meta, p + "expert_used_count");
  if (!used) return Status::errorf("{}: missing metadata key '{}expert_used_count'", source, p);
  c->n_expert_used = *used;
  if (c->arch == Arch::kQwen3Moe) {
    c->moe_routing = MoeRouting::kSoftmaxTopk;
    // Qwen3-MoE checkpoints say norm_topk_prob: true and llama.cpp always renormalizes for
    // qwen3moe (its converter writes no key); a file that says otherwise is honoured.
    c->moe_norm_topk = true;
    if (const MetaValue* v = meta_find(meta, p + "expert_weights_norm")) {
      if (v->type != MetaType::kBool) {
        return Status::errorf("{}: '{}expert_weights_norm' is not a boolean", source, p);
      }
      c->moe_norm_topk = v->u != 0;
    }
    auto ff = meta_int(meta, p + "expert_feed_forward_length");
    c->n_ff_exp = ff ? *ff : (c->n_expert_used > 0 ? c->n_ff / c->n_expert_used : 0);
  } else {
    c->moe_routing = MoeRouting::kTopkSoftmax;
    c->n_ff_exp = c->n_ff;
  }
  return check_moe_config(*c, source);
}

}  // namespace

Result<ModelConfig> config_from_gguf_metadata(const Metadata& meta, const std::string& source) {
  ModelConfig c;
  auto arch = meta_string(meta, "general.architecture");
  if (!arch) return Status::errorf("{}: no general.architecture in the metadata", source);
  c.arch_name = *arch;
  if (*arch == "llama") {
    c.arch = Arch::kLlama;
    c.rope_style = RopeStyle::kInterleaved;
  } else if (*arch == "mistral") {
    c.arch = Arch::kMistral;
    c.rope_style = RopeStyle::kInterleaved;
  } else if (*arch == "qwen2") {
    c.arch = Arch::kQwen2;
    c.rope_style = RopeStyle::kNeox;
    c.qkv_bias = true;
  } else if (*arch == "qwen3") {
    c.arch = Arch::kQwen3;
    c.rope_style = RopeStyle::kNeox;
    c.qk_norm = true;
  } else if (*arch == "qwen3moe") {
    c.arch = Arch::kQwen3Moe;
    c.rope_style = RopeStyle::kNeox;
    c.qk_norm = true;
  } else {
    return Status::errorf(
        "{}: unsupported architecture '{}' (strata runs llama, mistral, qwen2, qwen3, qwen3moe)",
        source, *arch);
  }
  const std::string p = *arch + ".";
  auto need = [&](const std::string& key, int64_t* out, int64_t max_value) -> Status {
    auto v = meta_int(meta, p + key);
    if (!v) return Status::errorf("{}: missing metadata key '{}{}'", source, p, key);
    if (*v <= 0 || *v > max_value) {
      return Status::errorf("{}: metadata '{}{}' = {} is out of range", source, p, key, *v);
    }
    *out = *v;
    return Status::ok();
  };
  STRATA_TRY(need("block_count", &c.n_layer, 4096));
  STRATA_TRY(need("embedding_length", &c.n_embd, 1 << 17));
  STRATA_TRY(need("feed_forward_length", &c.n_ff, 1 << 20));
  STRATA_TRY(need("attention.head_count", &c.n_head, 4096));
  c.n_head_kv = c.n_head;
  if (meta_find(meta, p + "attention.head_count_kv")) {
    STRATA_TRY(need("attention.head_count_kv", &c.n_head_kv, 4096));
  }
  if (c.n_head % c.n_head_kv != 0) {
    return Status::errorf("{}: head_count {} is not a multiple of head_count_kv {}", source,
                          c.n_head, c.n_head_kv);
  }
  c.head_dim = c.n_embd / c.n_head;
  if (meta_find(meta, p + "attention.key_length")) {
    STRATA_TRY(need("attention.key_length", &c.head_dim, 1 << 12));
  }
  if (c.head_dim % 2 != 0) return Status::errorf("{}: odd head dimension {}", source, c.head_dim);
  if (auto rd = meta_int(meta, p + "rope.dimension_count"); rd && *rd != c.head_dim) {
    return Status::errorf(
        "{}: partial RoPE (rope.dimension_count {} < head dim {}) is not supported", source, *rd,
        c.head_dim);
  }
  c.n_ctx_train = meta_int(meta, p + "context_length").value_or(2048);
  if (c.n_ctx_train <= 0) c.n_ctx_train = 2048;
  c.rope_theta = static_cast<float>(meta_float(meta, p + "rope.freq_base").value_or(10000.0));
  c.rms_eps =
      static_cast<float>(meta_float(meta, p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  if (!(c.rope_theta > 0) || !(c.rms_eps > 0)) {
    return Status::errorf("{}: rope.freq_base and layer_norm_rms_epsilon must be positive", source);
  }
  c.sliding_window = meta_int(meta, p + "attention.sliding_window").value_or(0);
  STRATA_TRY(moe_from_gguf_metadata(meta, p, source, &c));
  if (auto v = meta_int(meta, p + "vocab_size")) c.n_vocab = *v;
  if (c.n_vocab == 0) {
    if (const auto* toks = meta_array(meta, "tokenizer.ggml.tokens")) {
      c.n_vocab = static_cast<int64_t>(toks->size());
    }
  }
  return c;
}

}  // namespace strata
