#pragma once
// Opens a model from disk in any supported format and describes it: hyper-parameters,
// tensor index (GGUF-style names), metadata and where its tokenizer is. Reads headers only.

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "format/metadata.h"
#include "format/tensor_index.h"
#include "model/config.h"

namespace strata {

class Tokenizer;

enum class ModelFormat { kGguf, kSafetensors, kLlama2c };
const char* model_format_name(ModelFormat f);

struct ModelSource {
  ModelFormat format = ModelFormat::kGguf;
  std::string path;  // file, or directory for Hugging Face models
  std::string name;  // general.name or the directory name
  ModelConfig config;
  Metadata meta;                  // GGUF metadata (GGUF), translated keys (llama2.c)
  TensorIndex index;              // GGUF-style names, absolute offsets
  std::string tokenizer_json;     // Hugging Face: tokenizer.json path, "" if none
  std::string generation_config;  // Hugging Face: generation_config.json path, "" if none
};

// Detects the format: a directory is a Hugging Face model (config.json + safetensors), a file
// starting with "GGUF" is GGUF, anything else is tried as a llama2.c checkpoint. Validates
// every tensor the architecture needs (presence, shape, dtype).
[[nodiscard]] Result<ModelSource> open_model(const std::string& path);
// The same on a GGUF or llama2.c file's bytes in memory (the fuzz target and tests): the
// bytes are GGUF when they start with its magic, else a llama2.c checkpoint. `name` is used
// in errors.
[[nodiscard]] Result<ModelSource> open_model_bytes(std::string_view bytes, const std::string& name);

// The model's tokenizer: `override_path` (a llama2.c tokenizer .bin, tokenizer.json or GGUF)
// when given, else the GGUF vocabulary / tokenizer.json of the model. llama2.c checkpoints
// carry none: without an override, "tokenizer.bin" or "tok<vocab>.bin" beside the model.
[[nodiscard]] Result<std::unique_ptr<Tokenizer>> open_tokenizer(const ModelSource& model,
                                                                const std::string& override_path);

}  // namespace strata
