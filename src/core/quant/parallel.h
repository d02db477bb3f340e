#pragma once
// Reference quantization of large arrays on several threads: the quantizers are per block,
// so the ranges are independent and the bytes are the same whatever the thread count.

#include <cstdint>

#include "core/dtype.h"

namespace strata::quant {

// type_traits(t).from_float over n elements (whole blocks) on up to n_threads threads
// (0 = the hardware threads).
void from_float_parallel(DType t, const float* src, void* dst, int64_t n, int n_threads = 0);

}  // namespace strata::quant
