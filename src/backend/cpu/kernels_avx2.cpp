// The AVX2 kernel path (AVX2 + FMA + F16C): kernels_x86.inc compiled for that instruction
// set only here, so the rest of the binary stays at the x86-64 baseline and this code runs
// only where cpu_features.cpp found those instructions.
#include "backend/cpu/cpu_types.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "core/quant/blocks.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace strata::cpu {
namespace {
using namespace quant;
#define STRATA_VNNI 0
#include "backend/cpu/gemm_driver.inc"
#include "backend/cpu/kernels_x86.inc"
#undef STRATA_VNNI
}  // namespace

void register_avx2_kernels(TypeKernels* types, VecKernels* vec) { register_x86<void>(types, vec); }

}  // namespace strata::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // not x86-64: the path is never chosen

namespace strata::cpu {
void register_avx2_kernels(TypeKernels*, VecKernels*) {}
}  // namespace strata::cpu

#endif
