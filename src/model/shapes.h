#pragma once
// The exact shapes of real, published models (hidden size, FFN, layers, heads, vocabulary,
// RoPE, norms, tied embeddings, biases) so random-weight models of those shapes can be
// written and benchmarked without downloading the weights. Each shape names the real
// tokenizer its family ships, as a file in strata's data folder (core/data_dir.h).

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/config.h"

namespace strata {

// Where a shape's tokenizer comes from.
enum class ShapeVocab {
  kTokenizerJson,  // a Hugging Face tokenizer.json (.zst), tokenizer_config.json beside
  kGgufVocab,      // the tokenizer.ggml.* keys of a GGUF file (SentencePiece)
};

struct ModelShape {
  std::string name;          // "llama-3.2-1b"
  std::string display_name;  // "Llama 3.2 1B", as the model card names it
  ModelConfig config;
  ShapeVocab vocab = ShapeVocab::kTokenizerJson;
  std::string vocab_file;  // relative to the data folder
  std::string gguf_pre;    // tokenizer.ggml.pre for tokenizer.json vocabularies
};

// Every known shape, in a stable order (small to large, "tiny" first).
const std::vector<ModelShape>& model_shapes();
// "tiny, qwen2.5-0.5b, ..." for help and error messages.
std::string model_shape_names();
// The shape called `name`, with its depth overridden by `n_layer` when > 0. An error that
// lists the known shapes otherwise.
[[nodiscard]] Result<ModelShape> find_model_shape(const std::string& name, int64_t n_layer = 0);

}  // namespace strata
