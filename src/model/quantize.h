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

// A target, named as llama-quantize names it: a mix of K quants (Q2_K, Q3_K_S/M/L, Q4_K_S/M,
// Q5_K_S/M; Q3_K, Q4_K and Q5_K mean their _M mix, as in llama-quantize) or one type for most
// matrices (Q8_0, Q6_K, Q5_1, Q5_0, Q4_1, Q4_0, IQ4_NL, IQ4_XS), with the output head and the
// tensors llama.cpp gives more bits chosen by its rules (quant_type_for).
struct QuantMix {
  enum class Rule {
    kPlain,
    kQ2_K,
    kQ3_K_S,
    kQ3_K_M,
    kQ3_K_L,
    kQ4_K_S,
    kQ4_K_M,
    kQ5_K_S,
    kQ5_K_M,
    kIQ4
  };
  std::string name;  // canonical, upper case ("Q4_K_M" for "q4_k")
  DType base;        // the type of most matrices
  Rule rule = Rule::kPlain;
  uint32_t file_type = 0;  // general.file_type (llama.cpp's ftype number)
};
// Parses a target name (case-insensitive); an error listing the accepted names otherwise.
[[nodiscard]] Result<QuantMix> parse_quant_mix(const std::string& name);

// What quant_type_for needs to know of the model.
struct QuantModelShape {
  int64_t n_layer = 0;
  int64_t n_gqa = 1;         // query heads per KV head
  bool tied_output = false;  // no output.weight: token_embd is the output head
  int64_t n_expert = 0;      // experts per layer (0: dense)
};

// The type llama.cpp's mix gives tensor `name` (GGUF naming) with rows of row_elems: the
// output head Q6_K (Q8_0 for Q8_0); attn_v, attn_output and ffn_down of some layers more bits
// by the mix's rule (stacked experts' ffn_down_exps as ffn_down; an 8-expert model's attn_k
// and attn_v Q8_0 and its attn_output Q5_K in the low-bit mixes, as llama.cpp has it for
// Mixtral); expert routers (ffn_gate_inp) stay F32; a type whose blocks do not divide the row falls
// back as llama.cpp's does (to Q4_0, IQ4_NL, Q5_0, Q5_1 or Q8_0, else F16; llama-quantize refuses
// such a row for the 32-element types, strata writes it F16).
DType quant_type_for(const QuantMix& mix, const std::string& name, const QuantModelShape& shape,
                     int64_t row_elems);

struct QuantizeOptions {
  int n_threads = 0;  // 0 = the hardware threads
  // Called with bytes of source tensors done and the total.
  std::function<void(uint64_t, uint64_t)> on_progress;
};

// Writes `src` quantized to `mix` as a GGUF file at `out`. A GGUF source keeps its metadata
// (tokenizer included) with general.file_type updated; a Hugging Face directory gets
// llama.cpp's keys and its tokenizer.json translated (core/tokenizer/gguf_vocab_writer.h),
// its Llama/Mixtral q/k rows permuted for GGUF's interleaved RoPE, and its per-expert tensors
// stacked into ffn_{gate,up,down}_exps as llama.cpp's converter writes them.
[[nodiscard]] Status quantize_model(const ModelSource& src, const QuantMix& mix,
                                    const std::string& out, const QuantizeOptions& opts);

}  // namespace strata
