#pragma once
// Hugging Face config.json and tensor names -> strata's ModelConfig and GGUF-style names.

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/status.h"
#include "model/config.h"

namespace strata {

// Reads config.json's model_type and hyper-parameters (llama, mistral, qwen2, qwen3).
// Hugging Face checkpoints rotate halves, so rope_style is always kNeox.
[[nodiscard]] Result<ModelConfig> config_from_hf_json(const nlohmann::json& config,
                                                      const std::string& source);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" if not a tensor the
// engine uses (e.g. rotary_emb.inv_freq).
std::string gguf_name_from_hf(const std::string& hf_name);
// The inverse, for writers.
std::string hf_name_from_gguf(const std::string& gguf_name);

}  // namespace strata
