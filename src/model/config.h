#pragma once
// Architecture hyper-parameters, read from the model file; nothing is assumed.

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "format/metadata.h"

namespace strata {

// kMixtral and kQwen3Moe are mixtures of experts. A GGUF Mixtral says "llama" (llama.cpp's
// converter writes it so) and reads back as kLlama with n_expert > 0, as Mistral reads back.
enum class Arch { kLlama, kMistral, kQwen2, kQwen3, kMixtral, kQwen3Moe };

// How a mixture-of-experts layer turns router logits into expert weights.
enum class MoeRouting {
  kTopkSoftmax,  // Mixtral: the k largest logits, softmax over those k
  kSoftmaxTopk,  // Qwen3-MoE: softmax over all experts, the k largest, renormalized if asked
};

// How RoPE pairs dimensions inside a head. llama.cpp's converter permutes Llama q/k weights
// so GGUF "llama" files rotate adjacent pairs (2i, 2i+1); Hugging Face checkpoints (and GGUF
// qwen2/qwen3) rotate halves (i, i + head_dim/2). Both describe the same model.
enum class RopeStyle { kInterleaved, kNeox };

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string arch_name;  // as the file says: "llama", "qwen2", ...
  int64_t n_layer = 0;
  int64_t n_embd = 0;  // hidden size
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // n_embd / n_head unless the file says otherwise (Qwen3)
  int64_t n_ff = 0;      // FFN hidden size
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t sliding_window = 0;  // 0 = full causal attention (Mistral v0.1 uses 4096)
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  bool tied_embeddings = false;  // classifier shares token_embd
  bool qkv_bias = false;         // Qwen2
  bool qk_norm = false;          // Qwen3: per-head RMSNorm of q and k before RoPE
  // Llama 3.1 "llama3" RoPE scaling from config.json; GGUF carries the resulting per-pair
  // divisors as the rope_freqs.weight tensor instead.
  bool llama3_rope_scaling = false;
  float rope_factor = 1.0f, rope_low_freq_factor = 1.0f, rope_high_freq_factor = 4.0f;
  int64_t rope_original_ctx = 8192;
  // Mixture of experts: every layer's FFN is n_expert SwiGLU experts of width n_ff_exp, of
  // which a router picks n_expert_used per token. n_expert == 0: a dense FFN of width n_ff.
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;
  MoeRouting moe_routing = MoeRouting::kTopkSoftmax;
  bool moe_norm_topk = true;  // kSoftmaxTopk: divide the k weights by their sum
  // Experts stored one tensor per expert ("blk.N.ffn_gate.E.weight": Hugging Face checkpoints,
  // early Mixtral GGUFs) rather than stacked ("blk.N.ffn_gate_exps.weight" [E, n_ff_exp, n_embd]).
  bool experts_split = false;

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
  bool is_moe() const { return n_expert > 0; }
  // Per-pair frequency divisors computed from the llama3 scaling parameters.
  std::vector<float> llama3_rope_divisors() const;
};

const char* arch_display_name(Arch a);

// Most experts a layer may have (llama.cpp allows 512; Qwen3-Next has 512).
constexpr int64_t kMaxExperts = 1024;
// Checks the expert counts against each other and the limits; `source` names the file.
[[nodiscard]] Status check_moe_config(const ModelConfig& c, const std::string& source);

// Reads hyper-parameters from GGUF-style metadata ("{arch}.block_count", ...). `source` names
// the file in errors. Unknown architectures are rejected.
[[nodiscard]] Result<ModelConfig> config_from_gguf_metadata(const Metadata& meta,
                                                            const std::string& source);

}  // namespace strata
