#pragma once
// Writes random-weight models of a given shape, as GGUF (llama.cpp's layout: Llama q/k rows
// permuted for interleaved RoPE, experts stacked) or as a Hugging Face directory (rotate-half
// layout, one tensor per expert). Both carry the same model: a tensor's values depend only on
// (seed, Hugging Face tensor name), a stacked GGUF tensor's on its experts' names.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "format/metadata.h"
#include "model/config.h"

namespace strata {

struct RandomModelOptions {
  // Matrices; in a Hugging Face directory norms and biases too (as real checkpoints are). A
  // GGUF stores 1-D tensors as F32 holding the same values, as llama.cpp's converter does.
  DType dtype = DType::kF16;
  uint64_t seed = 0;
  float weight_std = 0.02f;  // normal(0, std) for matrices and biases
  float norm_jitter = 0.0f;  // norms are 1 + jitter * normal(0, 1); 0 gives exactly 1
  std::string name = "strata-random";
  // Extra GGUF metadata (a tokenizer's tokenizer.ggml.* keys), GGUF only.
  Metadata extra_gguf_meta;
  // GGUF only: the type of each matrix by its GGUF name and row length (a llama.cpp mix such
  // as Q4_K_M, quantize.h's quant_type_for), instead of `dtype` for all; with the file's
  // general.file_type.
  std::function<DType(const std::string& gguf_name, int64_t row_elems)> gguf_type_for;
  uint32_t gguf_file_type = 0;
  // GGUF only, 0 = off: each quantized matrix larger than the pool is `block_pool` blocks
  // quantized from its normal values, then filled with blocks drawn from that pool by the seeded
  // generator. The file has the same layout, types and value statistics, and is written at
  // disk speed rather than at the speed of the searching quantizers (a 30B shape in minutes,
  // not hours); its values are not those of the Hugging Face checkpoint of the same seed.
  int64_t block_pool = 0;
  // Progress: called with bytes written so far and the total.
  std::function<void(uint64_t, uint64_t)> on_progress;
};

// llama.cpp's general.file_type value for a file whose matrices are mostly `t`.
uint32_t gguf_file_type(DType t);

// Total tensor bytes of the model `c` in `dtype` (1-D tensors and expert routers in F32 when
// `vectors_f32`, as a GGUF stores them).
uint64_t model_weight_bytes(const ModelConfig& c, DType dtype, bool vectors_f32 = false);

// The GGUF metadata of a model of config `c` as llama.cpp's converter writes it (architecture,
// hyper-parameters, general.file_type for matrices mostly of `file_type`), without tokenizer.
std::vector<std::pair<std::string, MetaValue>> gguf_model_metadata(const ModelConfig& c,
                                                                   const std::string& name,
                                                                   DType file_type);

// Hugging Face q/k rows (rotate-half RoPE) in the order of a GGUF "llama" file (interleaved
// pairs), as llama.cpp's converter permutes them: `hf` is [n_heads * head_dim, cols].
std::vector<float> permute_for_interleaved_rope(const std::vector<float>& hf, int64_t n_heads,
                                                int64_t cols);

// Writes `c` with random weights to a GGUF file at `path` (atomically).
[[nodiscard]] Status write_random_gguf(const ModelConfig& c, const RandomModelOptions& opts,
                                       const std::string& path);
// Writes config.json and safetensors shards (at most `max_shard_bytes` each) to `dir`.
[[nodiscard]] Status write_random_hf(const ModelConfig& c, const RandomModelOptions& opts,
                                     const std::string& dir, uint64_t max_shard_bytes = 2ull << 30);

// Fills `out` with `n` deterministic normal(0, 1) samples for stream `key` of `seed`.
void random_normal(uint64_t seed, const std::string& key, float* out, int64_t n);

}  // namespace strata
