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

// Mixtral: num_local_experts experts of intermediate_size, top-k logits then softmax.
// Qwen3-MoE: num_experts of moe_intermediate_size, softmax then top-k, renormalized when
// norm_topk_prob (transformers' default is false; the published checkpoints say true).
Status moe_from_hf_json(const nlohmann::json& j, const std::string& source, ModelConfig* c) {
  if (c->arch != Arch::kMixtral && c->arch != Arch::kQwen3Moe) return Status::ok();
  c->experts_split = true;  // one tensor per expert in every Hugging Face checkpoint
  STRATA_TRY(get_int(j, "num_experts_per_tok", &c->n_expert_used, source, true, kMaxExperts));
  if (c->arch == Arch::kMixtral) {
    c->moe_routing = MoeRouting::kTopkSoftmax;
    STRATA_TRY(get_int(j, "num_local_experts", &c->n_expert, source, true, kMaxExperts));
    c->n_ff_exp = c->n_ff;
    return check_moe_config(*c, source);
  }
  c->moe_routing = MoeRouting::kSoftmaxTopk;
  STRATA_TRY(get_int(j, "num_experts", &c->n_expert, source, true, kMaxExperts));
  STRATA_TRY(get_int(j, "moe_intermediate_size", &c->n_ff_exp, source, true, 1 << 20));
  if (c->n_ff == 0) c->n_ff = c->n_ff_exp;
  c->moe_norm_topk = false;
  if (auto it = j.find("norm_topk_prob"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return Status::errorf("{}: 'norm_topk_prob' must be true or false, got {}", source,
                            it->dump());
    }
    c->moe_norm_topk = it->get<bool>();
  }
  // Layer l is sparse when (l + 1) % decoder_sparse_step == 0 and l is not in mlp_only_layers;
  // strata runs models whose every layer is sparse (all published Qwen3-MoE checkpoints).
  int64_t step = 1;
  STRATA_TRY(get_int(j, "decoder_sparse_step", &step, source, false, 1 << 20));
  if (step != 1) {
    return Status::errorf(
        "{}: decoder_sparse_step {} mixes dense and expert layers, which strata "
        "does not run (only 1: every layer has experts)",
        source, step);
  }
  if (auto it = j.find("mlp_only_layers"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      return Status::errorf("{}: 'mlp_only_layers' must be a list, got {}", source, it->dump());
    }
    if (!it->empty()) {
      return Status::errorf(
          "{}: mlp_only_layers {} makes some layers dense, which strata does "
          "not run (only an empty list: every layer has experts)",
          source, it->dump());
    }
  }
  return check_moe_config(*c, source);
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
  } else if (c.arch_name == "mixtral") {
    c.arch = Arch::kMixtral;
  } else if (c.arch_name == "qwen3_moe") {
    c.arch = Arch::kQwen3Moe;
    c.qk_norm = true;
  } else {
    return Status::errorf(
        "{}: unsupported model_type '{}' (strata runs llama, mistral, qwen2, qwen3, mixtral, "
        "qwen3_moe)",
        source, c.arch_name);
  }
  if (auto ab = j.find("attention_bias"); ab != j.end() && ab->is_boolean() && ab->get<bool>()) {
    c.qkv_bias = true;
  }
  STRATA_TRY(get_int(j, "num_hidden_layers", &c.n_layer, source, true, 4096));
  STRATA_TRY(get_int(j, "hidden_size", &c.n_embd, source, true, 1 << 17));
  // Qwen3-MoE's intermediate_size is the width of dense MLP layers, which strata refuses
  // (mlp_only_layers below); transformers defaults it when absent.
  STRATA_TRY(get_int(j, "intermediate_size", &c.n_ff, source, c.arch != Arch::kQwen3Moe, 1 << 20));
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
  STRATA_TRY(moe_from_hf_json(j, source, &c));
  STRATA_TRY(get_float(j, "rope_theta", &c.rope_theta, source));
  STRATA_TRY(get_float(j, "rms_norm_eps", &c.rms_eps, source));
  if (auto sw = j.find("sliding_window"); sw != j.end() && sw->is_number_integer()) {
    bool use = true;
    if (auto u = j.find("use_sliding_window"); u != j.end() && u->is_boolean())
      use = u->get<bool>();
    if (use && sw->get<int64_t>() > 0) c.sliding_window = sw->get<int64_t>();
  }
  // Qwen2 configs carry sliding_window but use_sliding_window=false; honour that above.
  c.tied_embeddings = false;
  if (auto t = j.find("tie_word_embeddings"); t != j.end() && t->is_boolean()) {
    c.tied_embeddings = t->get<bool>();
  }
  if (auto rs = j.find("rope_scaling"); rs != j.end() && rs->is_object()) {
    std::string type;
    if (auto t = rs->find("rope_type"); t != rs->end() && t->is_string())
      type = t->get<std::string>();
    if (auto t = rs->find("type"); type.empty() && t != rs->end() && t->is_string())
      type = t->get<std::string>();
    if (type == "llama3") {
      c.llama3_rope_scaling = true;
      STRATA_TRY(get_float(*rs, "factor", &c.rope_factor, source));
      STRATA_TRY(get_float(*rs, "low_freq_factor", &c.rope_low_freq_factor, source));
      STRATA_TRY(get_float(*rs, "high_freq_factor", &c.rope_high_freq_factor, source));
      STRATA_TRY(get_int(*rs, "original_max_position_embeddings", &c.rope_original_ctx, source,
                         false, 1 << 24));
      if (c.rope_high_freq_factor <= c.rope_low_freq_factor) {
        return Status::errorf("{}: rope_scaling high_freq_factor must exceed low_freq_factor",
                              source);
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
  if (!std::regex_match(hf, m, layer_re)) return "";
  const std::string blk = "blk." + m[1].str() + ".", rest = m[2].str();
  for (const auto& [h, g] : kLayerNames) {
    if (rest == h) return blk + g;
  }
  // Experts: Qwen3-MoE "mlp.experts.E.gate_proj", Mixtral "block_sparse_moe.experts.E.w1".
  if (rest == "mlp.gate.weight" || rest == "block_sparse_moe.gate.weight") {
    return blk + "ffn_gate_inp.weight";
  }
  static const std::regex expert_re(R"((?:mlp\.experts\.(\d+)\.(gate|up|down)_proj|)"
                                    R"(block_sparse_moe\.experts\.(\d+)\.(w1|w2|w3))\.weight)");
  std::smatch e;
  if (!std::regex_match(rest, e, expert_re)) return "";
  if (e[1].matched) return blk + "ffn_" + e[2].str() + "." + e[1].str() + ".weight";
  const char* proj = e[4] == "w1" ? "gate" : e[4] == "w3" ? "up" : "down";
  return blk + "ffn_" + proj + "." + e[3].str() + ".weight";
}

std::string hf_name_from_gguf(const std::string& gg, Arch arch) {
  for (const auto& [h, g] : kGlobalNames) {
    if (gg == g) return h;
  }
  static const std::regex layer_re(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(gg, m, layer_re)) return "";
  const std::string layer = "model.layers." + m[1].str() + ".", rest = m[2].str();
  for (const auto& [h, g] : kLayerNames) {
    if (rest == g) return layer + h;
  }
  const bool mixtral = arch != Arch::kQwen3Moe;
  if (rest == "ffn_gate_inp.weight") {
    return layer + (mixtral ? "block_sparse_moe.gate.weight" : "mlp.gate.weight");
  }
  static const std::regex expert_re(R"(ffn_(gate|up|down)\.(\d+)\.weight)");
  std::smatch e;
  if (!std::regex_match(rest, e, expert_re)) return "";
  if (!mixtral) return layer + "mlp.experts." + e[2].str() + "." + e[1].str() + "_proj.weight";
  const char* w = e[1] == "gate" ? "w1" : e[1] == "up" ? "w3" : "w2";
  return layer + "block_sparse_moe.experts." + e[2].str() + "." + w + ".weight";
}

const char* hf_model_type(Arch arch) {
  return arch == Arch::kQwen3Moe ? "qwen3_moe" : arch_display_name(arch);
}

const char* hf_architecture(Arch arch) {
  switch (arch) {
    case Arch::kLlama:
      return "LlamaForCausalLM";
    case Arch::kMistral:
      return "MistralForCausalLM";
    case Arch::kQwen2:
      return "Qwen2ForCausalLM";
    case Arch::kQwen3:
      return "Qwen3ForCausalLM";
    case Arch::kMixtral:
      return "MixtralForCausalLM";
    case Arch::kQwen3Moe:
      return "Qwen3MoeForCausalLM";
  }
  return "?";
}

}  // namespace strata
