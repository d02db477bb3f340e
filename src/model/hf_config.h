#pragma once
// Hugging Face config.json and tensor names -> strata's ModelConfig and GGUF-style names.

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/status.h"
#include "model/config.h"

namespace strata {

// Reads config.json's model_type and hyper-parameters (llama, mistral, qwen2, qwen3, and the
// mixtures of experts mixtral and qwen3_moe, whose unsupported variants are refused by name).
// Hugging Face checkpoints rotate halves, so rope_style is always kNeox.
[[nodiscard]] Result<ModelConfig> config_from_hf_json(const nlohmann::json& config,
                                                      const std::string& source);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" if not a tensor the
// engine uses (e.g. rotary_emb.inv_freq). Experts keep one tensor each, under llama.cpp's
// per-expert names: "model.layers.3.mlp.experts.7.up_proj.weight" (Qwen3-MoE) and
// "model.layers.3.block_sparse_moe.experts.7.w3.weight" (Mixtral) -> "blk.3.ffn_up.7.weight";
// the routers ("mlp.gate", "block_sparse_moe.gate") -> "blk.3.ffn_gate_inp.weight".
std::string gguf_name_from_hf(const std::string& hf_name);
// The inverse, for writers; `arch` picks Qwen3-MoE or Mixtral (any other) expert names.
std::string hf_name_from_gguf(const std::string& gguf_name, Arch arch = Arch::kLlama);
// The model_type and architectures[0] of config.json for `arch`.
const char* hf_model_type(Arch arch);
const char* hf_architecture(Arch arch);

}  // namespace strata
