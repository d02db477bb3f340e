#include "model/tensor_spec.h"

#include "model/hf_config.h"

namespace strata {

std::vector<TensorSpec> layer_tensor_specs(const ModelConfig& c, int64_t layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  std::vector<TensorSpec> s(kLayerTensorCount);
  auto set = [&](LayerTensor t, const std::string& name, std::vector<int64_t> shape) {
    s[static_cast<int>(t)] = {p + name, std::move(shape), true};
  };
  set(LayerTensor::kAttnNorm, "attn_norm.weight", {c.n_embd});
  set(LayerTensor::kWq, "attn_q.weight", {c.q_dim(), c.n_embd});
  set(LayerTensor::kWk, "attn_k.weight", {c.kv_dim(), c.n_embd});
  set(LayerTensor::kWv, "attn_v.weight", {c.kv_dim(), c.n_embd});
  if (c.qkv_bias) {
    set(LayerTensor::kBq, "attn_q.bias", {c.q_dim()});
    set(LayerTensor::kBk, "attn_k.bias", {c.kv_dim()});
    set(LayerTensor::kBv, "attn_v.bias", {c.kv_dim()});
  }
  if (c.qk_norm) {
    set(LayerTensor::kQNorm, "attn_q_norm.weight", {c.head_dim});
    set(LayerTensor::kKNorm, "attn_k_norm.weight", {c.head_dim});
  }
  set(LayerTensor::kWo, "attn_output.weight", {c.n_embd, c.q_dim()});
  set(LayerTensor::kFfnNorm, "ffn_norm.weight", {c.n_embd});
  if (!c.is_moe()) {
    set(LayerTensor::kGate, "ffn_gate.weight", {c.n_ff, c.n_embd});
    set(LayerTensor::kUp, "ffn_up.weight", {c.n_ff, c.n_embd});
    set(LayerTensor::kDown, "ffn_down.weight", {c.n_embd, c.n_ff});
    return s;
  }
  const int64_t E = c.n_expert, f = c.n_ff_exp;
  set(LayerTensor::kRouter, "ffn_gate_inp.weight", {E, c.n_embd});
  if (!c.experts_split) {
    set(LayerTensor::kGateExps, "ffn_gate_exps.weight", {E, f, c.n_embd});
    set(LayerTensor::kUpExps, "ffn_up_exps.weight", {E, f, c.n_embd});
    set(LayerTensor::kDownExps, "ffn_down_exps.weight", {E, c.n_embd, f});
    return s;
  }
  s.resize(kLayerTensorCount + 3 * E);
  for (int64_t e = 0; e < E; ++e) {
    const std::string n = "." + std::to_string(e) + ".weight";
    s[expert_spec_index(e, ExpertProj::kGate)] = {p + "ffn_gate" + n, {f, c.n_embd}, true};
    s[expert_spec_index(e, ExpertProj::kUp)] = {p + "ffn_up" + n, {f, c.n_embd}, true};
    s[expert_spec_index(e, ExpertProj::kDown)] = {p + "ffn_down" + n, {c.n_embd, f}, true};
  }
  return s;
}

std::array<TensorSpec, kGlobalTensorCount> global_tensor_specs(const ModelConfig& c) {
  std::array<TensorSpec, kGlobalTensorCount> s;
  s[static_cast<int>(GlobalTensor::kTokEmbd)] = {"token_embd.weight", {c.n_vocab, c.n_embd}, true};
  s[static_cast<int>(GlobalTensor::kOutputNorm)] = {"output_norm.weight", {c.n_embd}, true};
  if (!c.tied_embeddings) {
    s[static_cast<int>(GlobalTensor::kOutput)] = {"output.weight", {c.n_vocab, c.n_embd}, true};
  }
  s[static_cast<int>(GlobalTensor::kRopeFreqs)] = {"rope_freqs.weight", {c.head_dim / 2}, false};
  return s;
}

namespace {
Status check(const TensorSpec& spec, const TensorIndex& index, const std::string& source,
             const ModelConfig& c, bool hf_names) {
  if (spec.name.empty()) return Status::ok();
  const TensorInfo* t = index.find(spec.name);
  // Hugging Face directories are indexed by GGUF names; say what the checkpoint calls it.
  std::string name = "'" + spec.name + "'";
  if (hf_names) name += " ('" + hf_name_from_gguf(spec.name, c.arch) + "')";
  if (!t) {
    if (!spec.required) return Status::ok();
    return Status::errorf("{}: missing tensor {}", source, name);
  }
  if (t->shape != spec.shape) {
    return Status::errorf("{}: tensor {} has shape {}, expected {}", source, name,
                          shape_to_string(t->shape), shape_to_string(spec.shape));
  }
  if (!t->dtype) {
    return Status::errorf(
        "{}: tensor {} has type {}, which strata cannot compute with yet "
        "(supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, "
        "Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)",
        source, name, t->dtype_name);
  }
  return Status::ok();
}
}  // namespace

Status validate_tensors(const ModelConfig& c, const TensorIndex& index, const std::string& source,
                        bool hf_names) {
  STRATA_TRY(check_moe_config(c, source));
  for (const auto& spec : global_tensor_specs(c)) {
    STRATA_TRY(check(spec, index, source, c, hf_names));
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    for (const auto& spec : layer_tensor_specs(c, l)) {
      STRATA_TRY(check(spec, index, source, c, hf_names));
    }
  }
  return Status::ok();
}

}  // namespace strata
