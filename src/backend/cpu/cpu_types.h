#pragma once
// The CPU half of the type table (core/dtype.h): for each weight type, the activation format
// its dot kernel reads and its kernel on each CPU path (ggml's type_traits_cpu). Adding a
// type is a row here per path and a kernel in each kernels_*.cpp, tested against the scalar
// path by tests/engine/cpu_kernels_test.cpp.

#include <cstdint>
#include <string>

#include "backend/cpu/cpu_features.h"
#include "core/dtype.h"

namespace strata::cpu {

// Activations are quantized once per matmul and token, so quantized weights meet 8-bit
// integer activations (as llama.cpp does), with a float scale per block (llama.cpp rounds
// that scale to F16 for the 32-element types; strata keeps the float).
// A row of n elements for the 32-element weight types, quantized with one scale per 16
// elements (each weight block meets two: its halves' integer sums come out of the same
// reduction as whole-block sums would), as arrays ordered by act_half_index so eight blocks'
// values load as vectors: nh = n / 16 scales; nh products scale * (sum of
// the half's qs) (the min terms of Q4_1, Q5_1); nh sums of the half's qs (the exact integer
// offsets of Q4_0, Q5_0 and of the unsigned forms of Q8_0 and IQ4_NL); then n int8.
struct ActRow32 {
  const float* d;
  const float* ds;
  const int32_t* s;
  const int8_t* qs;
};
// The index in d, ds and s of half h of block b, in a row of nb blocks: blocks in whole groups
// of eight are stored in the lane order the SIMD kernels reduce their integer sums to (group
// g's 16 entries: blocks 0-3's first halves, their second halves, then blocks 4-7 likewise),
// so a kernel loads them as two vectors; the blocks after the last whole group in order.
inline int64_t act_half_index(int64_t b, int h, int64_t nb) {
  if (b < nb / 8 * 8) return (b / 8) * 16 + ((b % 8) / 4) * 8 + h * 4 + b % 4;
  return 2 * b + h;
}
inline ActRow32 act_row32(const char* row, int64_t n) {
  const int64_t nh = n / 16;
  const float* d = reinterpret_cast<const float*>(row);
  const int32_t* s = reinterpret_cast<const int32_t*>(d + 2 * nh);
  return {d, d + nh, s, reinterpret_cast<const int8_t*>(s + nh)};
}
// A super-block of 256 for the K quants and IQ4_XS: element e stands for d * m[e / 32] * qs[e].
// One float scale d = amax / (127 * 16) and, per 32 elements, an integer multiplier m (1..16)
// large enough for that sub-block's own amax, so a sub-block of small values keeps up to 16x
// the resolution one scale per 256 would give it, while the kernels still sum a super-block in
// integers: m multiplies the weight's integer sub-block scale (both 16-bit).
struct ActBlock256 {
  float d;
  int16_t m[8];
  int16_t bsums[16];  // m[g / 2] * (sum of qs 16 g .. 16 g + 15): the K quants' mins and offsets
  int8_t qs[256];
};
static_assert(sizeof(ActBlock256) == 308);
inline constexpr int kActMaxMultiplier = 16;

enum class ActFormat {
  kF32,    // float weights (F32, F16, BF16) read float activations
  kQ8x32,  // ActRow32: the 32-element types (Q4_0 ... Q8_0, IQ4_NL)
  kQ8x256  // ActBlock256: the K quants and IQ4_XS
};

// Bytes of one activation row of n elements in format f.
int64_t act_row_bytes(ActFormat f, int64_t n);
// Converts a row of n floats to format f (the same arithmetic on every path).
void quantize_act_row(ActFormat f, const float* x, int64_t n, char* out);

// y[t * ldy + r] = dot(weight row r, activation row t) for r < n_rows, t < n_tok; weight rows
// are w_row_bytes apart, activation rows act_row_bytes apart, n elements each. Every output
// is computed by the arithmetic of the n_tok == 1 case, so a batch gives the same bits as
// token by token, whatever the thread count.
using GemmFn = void (*)(const char* w, int64_t w_row_bytes, int64_t n_rows, const char* act,
                        int64_t act_row_bytes, int64_t n_tok, int64_t n, float* y, int64_t ldy);

struct TypeKernels {
  ActFormat act = ActFormat::kF32;
  GemmFn gemm = nullptr;  // null: no kernel (types that are not weight types)
};

// Vector helpers for attention, per path.
struct VecKernels {
  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n) = nullptr;  // y += a * x
  // The same with b / x as F16 (an F16 attention cache).
  float (*dot_f32_f16)(const float* a, const uint16_t* b, int64_t n) = nullptr;
  void (*axpy_f16)(float a, const uint16_t* x, float* y, int64_t n) = nullptr;
  // Attention over rows of an F16 cache (row s at k + s * stride bytes) in a path's vector
  // form: false, having written nothing, for a head size it has none for (null: none at all).
  // attention_scores_f16 / attention_mix_f16 below call them or go row by row.
  bool (*scores_f16)(const float* q, const char* k, int64_t stride, int64_t n, int64_t dim,
                     float* out) = nullptr;
  bool (*mix_f16)(const float* a, const char* v, int64_t stride, int64_t n, int64_t dim,
                  float* out) = nullptr;
  // In-place softmax with a vector exp (kernels.h's softmax_fast; null: the scalar one).
  void (*softmax)(float* x, int64_t n) = nullptr;
  // F32 -> F16 rows (an F16 attention cache's stores), the scalar codec's bits (null: it).
  void (*f16_from_f32)(const float* x, uint16_t* h, int64_t n) = nullptr;
};

// The kernel of type t on path p (every weight type has one on every path).
const TypeKernels& type_kernels(DType t, CpuPath p);
const VecKernels& vec_kernels(CpuPath p);

// kernels.h's attention_scores_f16 / attention_mix_f16 with path kernels v: their vector form
// where they have one for this head size, else one dot_f32_f16 / axpy_f16 per row.
void attention_scores_f16(const VecKernels& v, const float* q, const char* k, int64_t stride,
                          int64_t n, int64_t dim, float* out);
void attention_mix_f16(const VecKernels& v, const float* a, const char* rows, int64_t stride,
                       int64_t n, int64_t dim, float* out);

// Number of table rows: ggml ids are below this.
constexpr int kTypeSlots = 36;

// Filled by each path's translation unit.
void register_scalar_kernels(TypeKernels* types, VecKernels* vec);
void register_avx2_kernels(TypeKernels* types, VecKernels* vec);
void register_avx512_kernels(TypeKernels* types, VecKernels* vec);
// The AVX-512 kernels with the batch panels' integer sums on AMX-INT8 tiles (tiles_amx.inc).
void register_amx_kernels(TypeKernels* types, VecKernels* vec);
// The same with a model of the tile registers (tiles_amx.inc's EmulatedOps) instead of the
// instructions: what the tests run the AMX path's code on where there is no AMX.
void register_tile_emulation_kernels(TypeKernels* types, VecKernels* vec);

// The AVX-512 path's kernels with emulated tiles (needs the avx512 path): tests only.
const TypeKernels& tile_emulation_kernels(DType t);

// Runs the tile instructions once on fixed operands, under a guard for faults, and compares
// them with the products computed directly; false with the reason when they fault or differ.
// Only after the kernel granted the tile state (cpu_features.cpp).
bool amx_tiles_self_test(std::string* why);
// The same check with the emulation standing for the instructions (tests: it must pass).
bool emulated_tiles_self_test(std::string* why);
// Tests only: while on, this thread's emulated TDPBSUD adds 1 to its first result, as a CPU
// computing wrongly would (the start-up check must then refuse the tiles).
void inject_tile_emulation_error(bool on);

}  // namespace strata::cpu
