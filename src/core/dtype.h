#pragma once
// The weight-type table. Every ggml tensor type, by its GGUF id, with its block geometry
// (elements and bytes per block); for the types strata computes with, the codec: to-float
// (exact dequantization) and the reference quantizer. Parsers, layer layout, the store, the
// writers and the kernels read this table: a tensor's or a row's byte size is never computed
// as elements x a fixed element size outside it. The CPU backend keeps the matching kernel
// table (backend/cpu/cpu_types.h): the dot kernel and its activation type per type.
//
// Block layouts are ggml's (the GGUF spec, ggml's type documentation); one codec file per
// family under core/quant/, each with its own test.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace strata {

// Values are the GGUF/ggml type ids.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
};

struct TypeTraits {
  std::string_view name;    // as GGUF tools print it: "F16", "Q4_K", "IQ4_XS"
  DType type = DType::kF32;
  int64_t block_elems = 0;  // elements per block (1 for plain types)
  int64_t block_bytes = 0;  // bytes per block
  // The codec, for the types strata computes with; null otherwise (such tensors are sized
  // and skipped by the parsers, and refused at load by name). n is a multiple of
  // block_elems; rows are whole blocks.
  void (*to_float)(const void* src, float* dst, int64_t n) = nullptr;  // exact
  void (*from_float)(const float* src, void* dst, int64_t n) = nullptr;  // reference quantize
  // strata loads and computes with weights of this type (Q8_1 and Q8_K have a codec but are
  // activation formats, never weights in a model file).
  bool weights = false;
};

// The row for a GGUF type id; nullptr for an id that is no ggml type.
const TypeTraits* find_type(uint32_t ggml_id);
// The row for a type (every DType has one).
const TypeTraits& type_traits(DType t);
inline std::string_view dtype_name(DType t) { return type_traits(t).name; }
// strata can load and compute with weights of this type.
inline bool dtype_computable(DType t) { return type_traits(t).weights; }
// A type strata computes with, by the name GGUF tools use ("Q4_K", "q4_k", "F16").
std::optional<DType> computable_dtype_by_name(std::string_view name);
// Bytes of a row of `n` elements. `n` must be a multiple of the block size: parsers check
// that before anything computes a row size.
inline uint64_t row_bytes(DType t, int64_t n) {
  const TypeTraits& tr = type_traits(t);
  return static_cast<uint64_t>(n / tr.block_elems) * static_cast<uint64_t>(tr.block_bytes);
}

// The address alignment a kernel may assume for data of this type: the element size of plain
// types; 2 for block types (their blocks are whole numbers of 16-bit fields).
inline uint64_t dtype_alignment(DType t) {
  const TypeTraits& tr = type_traits(t);
  return tr.block_elems == 1 ? static_cast<uint64_t>(tr.block_bytes) : 2;
}

// ---- half-precision conversions (the codecs' and the kernels' scalar paths) ----

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// IEEE 754 half precision, all cases (subnormals, inf, NaN).
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, with overflow to inf and gradual underflow.
inline uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {  // subnormal or zero in half
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    uint32_t total_shift = 126 - e;  // value = m * 2^(e-150); half subnormal unit = 2^-24
    uint32_t half_m = m >> total_shift;
    uint32_t rem = m & ((1u << total_shift) - 1);
    uint32_t halfway = 1u << (total_shift - 1);
    if (rem > halfway || (rem == halfway && (half_m & 1u))) ++half_m;
    return static_cast<uint16_t>(sign | half_m);
  }
  uint32_t e = (absx >> 23) - 127 + 15;
  uint32_t m = absx & 0x7fffffu;
  uint32_t h = (e << 10) | (m >> 13);
  uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into exponent: fine
  return static_cast<uint16_t>(sign | h);
}

}  // namespace strata
