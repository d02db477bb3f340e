#include "model/shapes.h"

namespace strata {

namespace {

struct Dims {
  int64_t n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_vocab, n_ctx_train;
  float rope_theta, rms_eps;
  bool tied_embeddings;
};

ModelConfig make_config(Arch arch, const Dims& d) {
  ModelConfig c;
  c.arch = arch;
  c.arch_name = arch_display_name(arch);
  c.n_embd = d.n_embd;
  c.n_ff = d.n_ff;
  c.n_layer = d.n_layer;
  c.n_head = d.n_head;
  c.n_head_kv = d.n_head_kv;
  c.head_dim = d.head_dim;
  c.n_vocab = d.n_vocab;
  c.n_ctx_train = d.n_ctx_train;
  c.rope_theta = d.rope_theta;
  c.rms_eps = d.rms_eps;
  c.tied_embeddings = d.tied_embeddings;
  // GGUF llama/mistral files rotate interleaved pairs (llama.cpp permutes q/k when
  // converting); qwen2/qwen3 rotate halves. Hugging Face output is rotate-half either way.
  c.rope_style =
      arch == Arch::kQwen2 || arch == Arch::kQwen3 ? RopeStyle::kNeox : RopeStyle::kInterleaved;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3 || arch == Arch::kQwen3Moe;
  if (arch == Arch::kQwen3Moe) c.rope_style = RopeStyle::kNeox;
  return c;
}

// Every layer's FFN becomes `n_expert` experts of width `n_ff_exp`, `n_used` per token.
// Mixtral: top-k logits then softmax, its GGUF says "llama" (as llama.cpp converts it).
// Qwen3-MoE: softmax then top-k, renormalized (norm_topk_prob: true in every checkpoint).
ModelConfig with_experts(ModelConfig c, int64_t n_expert, int64_t n_used, int64_t n_ff_exp) {
  c.n_expert = n_expert;
  c.n_expert_used = n_used;
  c.n_ff_exp = n_ff_exp;
  if (c.arch == Arch::kMixtral) {
    c.arch_name = "llama";
    c.moe_routing = MoeRouting::kTopkSoftmax;
  } else {
    c.moe_routing = MoeRouting::kSoftmaxTopk;
    c.moe_norm_topk = true;
  }
  return c;
}

// Llama 3.1/3.2 "llama3" RoPE scaling: low 1, high 4, original context 8192; the factor is
// 8 for 3.1 and 32 for 3.2.
ModelConfig with_llama3_scaling(ModelConfig c, float factor) {
  c.llama3_rope_scaling = true;
  c.rope_factor = factor;
  c.rope_low_freq_factor = 1.0f;
  c.rope_high_freq_factor = 4.0f;
  c.rope_original_ctx = 8192;
  return c;
}

// Files in strata's data folder (data/ in the repository, share/strata when installed).
constexpr const char* kLlama3Json = "tokenizers/llama3/tokenizer.json.zst";
constexpr const char* kQwenJson = "tokenizers/qwen3/tokenizer.json.zst";
constexpr const char* kMistralJson = "tokenizers/mistral/tokenizer.json.zst";
constexpr const char* kStoriesGguf = "models/stories260K.gguf";

std::vector<ModelShape> build_shapes() {
  std::vector<ModelShape> s;
  // Values from each model's config.json on the Hugging Face hub.
  // stories260K (llama2.c tinyllamas): small enough for tests, with its 512-token SPM vocab.
  s.push_back({"tiny", "stories260K-shaped tiny Llama",
               make_config(Arch::kLlama, {64, 172, 5, 8, 4, 8, 512, 512, 10000.0f, 1e-5f, true}),
               ShapeVocab::kGgufVocab, kStoriesGguf, ""});
  // Not a published model: stories260K's vocabulary on rows of 256, so every block type (the
  // K quants need rows that are multiples of 256) fits a model small enough for tests.
  s.push_back({"tiny-256", "256-wide test model (stories260K vocabulary)",
               make_config(Arch::kLlama, {256, 512, 2, 8, 4, 32, 512, 512, 10000.0f, 1e-5f, true}),
               ShapeVocab::kGgufVocab, kStoriesGguf, ""});
  // Not published models: mixtures of experts small enough for tests, rows of 256 so every
  // block type fits. Eight experts as Mixtral has (llama-quantize's mixes treat 8-expert
  // models specially); sixteen as a Qwen3-MoE with a head_dim above hidden / heads.
  s.push_back({"tiny-mixtral", "test Mixtral (8 experts, top-2)",
               with_experts(make_config(Arch::kMixtral, {256, 256, 2, 8, 4, 32, 512, 512,
                                                         1000000.0f, 1e-5f, false}),
                            8, 2, 256),
               ShapeVocab::kGgufVocab, kStoriesGguf, ""});
  s.push_back({"tiny-qwen3moe", "test Qwen3-MoE (16 experts, top-4)",
               with_experts(make_config(Arch::kQwen3Moe, {256, 512, 2, 4, 2, 64, 512, 512,
                                                          1000000.0f, 1e-6f, false}),
                            16, 4, 256),
               ShapeVocab::kGgufVocab, kStoriesGguf, ""});
  // Qwen2.5-0.5B: q/k/v biases; sliding_window is in config.json but use_sliding_window is
  // false. 151,936 embedding rows (the tokenizer has 151,665 tokens).
  s.push_back({"qwen2.5-0.5b", "Qwen2.5 0.5B",
               make_config(Arch::kQwen2,
                           {896, 4864, 24, 14, 2, 64, 151936, 32768, 1000000.0f, 1e-6f, true}),
               ShapeVocab::kTokenizerJson, kQwenJson, "qwen2"});
  // Qwen3-0.6B: q/k RMSNorm per head, head_dim 128 (> hidden / heads = 64), no biases.
  s.push_back({"qwen3-0.6b", "Qwen3 0.6B",
               make_config(Arch::kQwen3,
                           {1024, 3072, 28, 16, 8, 128, 151936, 40960, 1000000.0f, 1e-6f, true}),
               ShapeVocab::kTokenizerJson, kQwenJson, "qwen2"});
  s.push_back({"llama-3.2-1b", "Llama 3.2 1B",
               with_llama3_scaling(make_config(Arch::kLlama, {2048, 8192, 16, 32, 8, 64, 128256,
                                                              131072, 500000.0f, 1e-5f, true}),
                                   32.0f),
               ShapeVocab::kTokenizerJson, kLlama3Json, "llama-bpe"});
  s.push_back({"llama-3.2-3b", "Llama 3.2 3B",
               with_llama3_scaling(make_config(Arch::kLlama, {3072, 8192, 28, 24, 8, 128, 128256,
                                                              131072, 500000.0f, 1e-5f, true}),
                                   32.0f),
               ShapeVocab::kTokenizerJson, kLlama3Json, "llama-bpe"});
  // Mistral-7B-v0.1: sliding-window attention over 4096 positions, its 32,000-token
  // SentencePiece vocabulary (a SentencePiece-style tokenizer.json).
  ModelConfig mistral = make_config(
      Arch::kMistral, {4096, 14336, 32, 32, 8, 128, 32000, 32768, 10000.0f, 1e-5f, false});
  mistral.sliding_window = 4096;
  // llama.cpp has no GGUF architecture "mistral": its converter writes Mistral 7B as "llama"
  // (the same layers). strata also reads llama.attention.sliding_window, which llama.cpp
  // ignores (it attends to the whole context, the same below 4096 positions).
  mistral.arch_name = "llama";
  s.push_back(
      {"mistral-7b", "Mistral 7B v0.1", mistral, ShapeVocab::kTokenizerJson, kMistralJson, ""});
  s.push_back({"llama-3.1-8b", "Llama 3.1 8B",
               with_llama3_scaling(make_config(Arch::kLlama, {4096, 14336, 32, 32, 8, 128, 128256,
                                                              131072, 500000.0f, 1e-5f, false}),
                                   8.0f),
               ShapeVocab::kTokenizerJson, kLlama3Json, "llama-bpe"});
  // Qwen3-30B-A3B: 48 layers of 128 experts (768 wide), 8 per token, renormalized;
  // intermediate_size 6144 is in config.json but no layer is dense.
  s.push_back({"qwen3-30b-a3b", "Qwen3 30B-A3B",
               with_experts(make_config(Arch::kQwen3Moe, {2048, 6144, 48, 32, 4, 128, 151936, 40960,
                                                          1000000.0f, 1e-6f, false}),
                            128, 8, 768),
               ShapeVocab::kTokenizerJson, kQwenJson, "qwen2"});
  // Mixtral-8x7B-v0.1: Mistral 7B's attention (without its sliding window) and 8 experts of
  // 14,336, two per token; the 32,000-token SentencePiece vocabulary.
  s.push_back({"mixtral-8x7b", "Mixtral 8x7B v0.1",
               with_experts(make_config(Arch::kMixtral, {4096, 14336, 32, 32, 8, 128, 32000, 32768,
                                                         1000000.0f, 1e-5f, false}),
                            8, 2, 14336),
               ShapeVocab::kTokenizerJson, kMistralJson, ""});
  return s;
}

}  // namespace

const std::vector<ModelShape>& model_shapes() {
  static const std::vector<ModelShape> shapes = build_shapes();
  return shapes;
}

std::string model_shape_names() {
  std::string out;
  for (const ModelShape& s : model_shapes()) out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

Result<ModelShape> find_model_shape(const std::string& name, int64_t n_layer) {
  for (const ModelShape& s : model_shapes()) {
    if (s.name != name) continue;
    ModelShape out = s;
    if (n_layer > 0) {
      if (n_layer > 4096) return Status::errorf("--layers {} is out of range (1..4096)", n_layer);
      out.config.n_layer = n_layer;
    }
    return out;
  }
  return Status::errorf("unknown shape '{}' (known: {})", name, model_shape_names());
}

}  // namespace strata
