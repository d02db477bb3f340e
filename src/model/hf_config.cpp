#include "model/hf_config.h"

#include <nlohmann/json.hpp>

#include <regex>
#include <utility>

namespace strata {
namespace {

// Per-layer suffixes: Hugging Face module path -> GGUF tensor name.
const std::pair<const char*, const char*> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};
const std::pair<const char*, const char*> kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

Status get_int(const nlohmann::json& j, const char* key, int64_t* out, const std::string& source,
               bool required, int64_t max_value) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::errorf("{}: missing '{}'", source, key);
    return Status::ok();
  }
  if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > max_value) {
    return Status::errorf("{}: '{}' must be a positive integer, got {}", source, key, it->dump());
  }
  *out = it->get<int64_t>();
  return Status::ok();
}

Status get_float(const nlohmann::json& j, const char* key, float* out, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::ok();
  if (!it->is_number() || !(it->get<double>() > 0)) {
    return Status::errorf("{}: '{}' must be a positive number, got {}", source, key, it->dump());
  }
  *out = static_cast<float>(it->get<double>());
  return Status::ok();
}

}  // namespace

Result<ModelConfig> config_from_hf_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) return Status::errorf("{}: config.json is not a JSON object", source);
  ModelConfig c;
  auto mt = j.find("model_type");
  if (mt == j.end() || !mt->is_string()) return Status::errorf("{}: missing 'model_type'", source);
  c.arch_name = mt->get<std::string>();
  c.rope_style = RopeStyle::kNeox;
  if (c.arch_name == "llama") {
    c.arch = Arch::kLlama;
  } else if (c.arch_name == "mistral") {
    c.arch = Arch::kMistral;
  } else if (c.arch_name == "qwen2") {
    c.arch = Arch::kQwen2;
    c.qkv_bias = true;
  } else if (c.arch_name == "qwen3") {
    c.arch = Arch::kQwen3;
    c.qk_norm = true;
  } else {
    return Status::errorf("{}: unsupported model_type '{}' (strata runs llama, mistral, qwen2, qwen3)",
                          source, c.arch_name);
  }
  if (auto ab = j.find("attention_bias"); ab != j.end() && ab->is_boolean() && ab->get<bool>()) {
    c.qkv_bias = true;
  }
  STRATA_TRY(get_int(j, "num_hidden_layers", &c.n_layer, source, true, 4096));
  STRATA_TRY(get_int(j, "hidden_size", &c.n_embd, source, true, 1 << 17));
  STRATA_TRY(get_int(j, "intermediate_size", &c.n_ff, source, true, 1 << 20));
  STRATA_TRY(get_int(j, "num_attention_heads", &c.n_head, source, true, 4096));
  c.n_head_kv = c.n_head;
  STRATA_TRY(get_int(j, "num_key_value_heads", &c.n_head_kv, source, false, 4096));
  STRATA_TRY(get_int(j, "vocab_size", &c.n_vocab, source, true, 1 << 22));
  c.n_ctx_train = 2048;
  STRATA_TRY(get_int(j, "max_position_embeddings", &c.n_ctx_train, source, false, 1 << 24));
  c.head_dim = c.n_embd / c.n_head;
  STRATA_TRY(get_int(j, "head_dim", &c.head_dim, source, false, 1 << 12));
  if (c.n_head % c.n_head_kv != 0 || c.head_dim % 2 != 0) {
    return Status::errorf("{}: inconsistent heads: {} heads, {} kv heads, head_dim {}", source,
                          c.n_head, c.n_head_kv, c.head_dim);
  }
  STRATA_TRY(get_float(j, "rope_theta", &c.rope_theta, source));
  STRATA_TRY(get_float(j, "rms_norm_eps", &c.rms_eps, source));
  if (auto sw = j.find("sliding_window"); sw != j.end() && sw->is_number_integer()) {
    bool use = true;
    if (auto u = j.find("use_sliding_window"); u != j.end() && u->is_boolean()) use = u->get<bool>();
    if (use && sw->get<int64_t>() > 0) c.sliding_window = sw->get<int64_t>();
  }
  // Qwen2 configs carry sliding_window but use_sliding_window=false; honour that above.
  c.tied_embeddings = false;
  if (auto t = j.find("tie_word_embeddings"); t != j.end() && t->is_boolean()) {
    c.tied_embeddings = t->get<bool>();
  }
  if (auto rs = j.find("rope_scaling"); rs != j.end() && rs->is_object()) {
    std::string type;
    if (auto t = rs->find("rope_type"); t != rs->end() && t->is_string()) type = t->get<std::string>();
    if (auto t = rs->find("type"); type.empty() && t != rs->end() && t->is_string()) type = t->get<std::string>();
    if (type == "llama3") {
      c.llama3_rope_scaling = true;
      STRATA_TRY(get_float(*rs, "factor", &c.rope_factor, source));
      STRATA_TRY(get_float(*rs, "low_freq_factor", &c.rope_low_freq_factor, source));
      STRATA_TRY(get_float(*rs, "high_freq_factor", &c.rope_high_freq_factor, source));
      STRATA_TRY(get_int(*rs, "original_max_position_embeddings", &c.rope_original_ctx, source,
                         false, 1 << 24));
      if (c.rope_high_freq_factor <= c.rope_low_freq_factor) {
        return Status::errorf("{}: rope_scaling high_freq_factor must exceed low_freq_factor", source);
      }
    } else if (!type.empty() && type != "default") {
      return Status::errorf("{}: unsupported rope_scaling type '{}'", source, type);
    }
  }
  return c;
}

std::string gguf_name_from_hf(const std::string& hf) {
  for (const auto& [h, g] : kGlobalNames) {
    if (hf == h) return g;
  }
  static const std::regex layer_re(R"(model\.layers\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(hf, m, layer_re)) {
    for (const auto& [h, g] : kLayerNames) {
      if (m[2] == h) return "blk." + m[1].str() + "." + g;
    }
  }
  return "";
}

std::string hf_name_from_gguf(const std::string& gg) {
  for (const auto& [h, g] : kGlobalNames) {
    if (gg == g) return h;
  }
  static const std::regex layer_re(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(gg, m, layer_re)) {
    for (const auto& [h, g] : kLayerNames) {
      if (m[2] == g) return "model.layers." + m[1].str() + "." + h;
    }
  }
  return "";
}

}  // namespace strata
