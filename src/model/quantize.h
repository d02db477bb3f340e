#pragma once
// strata quantize: a float model (GGUF or a Hugging Face directory, F32/F16/BF16) to a
// quantized GGUF, with llama.cpp's type mixes so the file is what llama-quantize would write
// for the same name: Q4_K_M keeps the output head and half of attn_v/ffn_down in Q6_K, and so
// on. 1-D tensors stay F32. Written atomically, tensor by tensor, so memory stays at one
// tensor's floats whatever the model size.

#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "core/status.h"

namespace strata {

struct ModelSource;

// A target: a mix ("Q4_K_M", "Q5_K_M") or one type for every matrix ("Q8_0", "Q4_0",
// "Q6_K", "IQ4_XS", ...; the output head then follows llama.cpp's rule for that type).
struct QuantMix {
  std::string name;   // as given, upper case
  DType base;         // the type of most matrices
  bool k_mix = false;  // the _M rule: Q6_K for attn_v/ffn_down of the "more bits" layers
};
// Parses a target name (case-insensitive); an error listing the accepted names otherwise.
[[nodiscard]] Result<QuantMix> parse_quant_mix(const std::string& name);

// The type llama.cpp's mix gives tensor `name` (GGUF naming) of a model with n_layer layers;
// `tied_output`: the model has no output.weight, so token_embd is the output head.
DType quant_type_for(const QuantMix& mix, const std::string& name, int64_t n_layer,
                     bool tied_output, int64_t row_elems);

struct QuantizeOptions {
  int n_threads = 0;  // 0 = the hardware threads
  // Called with bytes of source tensors done and the total.
  std::function<void(uint64_t, uint64_t)> on_progress;
};

// Writes `src` quantized to `mix` as a GGUF file at `out`. A GGUF source keeps its metadata
// (tokenizer included) with general.file_type updated; a Hugging Face directory gets
// llama.cpp's keys and its tokenizer.json translated (core/tokenizer/gguf_vocab_writer.h),
// and its Llama q/k rows permuted for GGUF's interleaved RoPE.
[[nodiscard]] Status quantize_model(const ModelSource& src, const QuantMix& mix,
                                    const std::string& out, const QuantizeOptions& opts);

}  // namespace strata
