#pragma once
// Internal: the codec functions the type table (core/dtype.cpp) points at. Each to_float is
// the exact dequantization of its block layout (blocks.h); each from_float is a reference
// quantizer: deterministic, scalar, and chosen for accuracy rather than speed (strata
// quantize and the tests use it). n is a multiple of the block size.

#include <cstdint>

namespace strata::quant {

#define STRATA_CODEC(name)                                          \
  void name##_to_float(const void* src, float* dst, int64_t n);     \
  void name##_from_float(const float* src, void* dst, int64_t n);

STRATA_CODEC(f32)
STRATA_CODEC(f16)
STRATA_CODEC(bf16)
STRATA_CODEC(q4_0)
STRATA_CODEC(q4_1)
STRATA_CODEC(q5_0)
STRATA_CODEC(q5_1)
STRATA_CODEC(q8_0)
STRATA_CODEC(q8_1)
STRATA_CODEC(iq4_nl)
STRATA_CODEC(q2_k)
STRATA_CODEC(q3_k)
STRATA_CODEC(q4_k)
STRATA_CODEC(q5_k)
STRATA_CODEC(q6_k)
STRATA_CODEC(q8_k)
STRATA_CODEC(iq4_xs)

#undef STRATA_CODEC

}  // namespace strata::quant
