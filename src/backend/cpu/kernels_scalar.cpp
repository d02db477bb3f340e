// The scalar kernel path: portable C++, the reference the SIMD paths are tested against.
// Quantized types: exact integer dot products per block (or sub-block), scaled and summed in
// float in block order; the same formulas as the SIMD paths, without their lane order.
#include <cstdint>

#include "backend/cpu/cpu_types.h"
#include "core/quant/blocks.h"

namespace strata::cpu {

namespace {

using namespace quant;

#include "backend/cpu/gemm_driver.inc"

// The scalar kernels compute one row at a time.
template <class D>
struct RowTile {
  static constexpr int kRows = 1, kDecodeRows = 1;
  template <int R, int T>
  static void tile(const char* const* w, const char* const* a, int64_t n, float* out) {
    D::template dot<T>(w[0], a, n, out);
  }
};
template <class D>
constexpr GemmFn gemm_of = tile_gemm<RowTile<D>>;

// ---- float weights, float activations ----

template <typename Load>
struct FloatDot {
  template <int T>
  static void dot(const char* w, const char* const* a, int64_t n, float* out) {
    for (int k = 0; k < T; ++k) {
      const float* x = reinterpret_cast<const float*>(a[k]);
      float s = 0;
      for (int64_t i = 0; i < n; ++i) s += Load::at(w, i) * x[i];
      out[k] = s;
    }
  }
};
struct LoadF32 {
  static float at(const char* w, int64_t i) { return reinterpret_cast<const float*>(w)[i]; }
};
struct LoadF16 {
  static float at(const char* w, int64_t i) {
    return f16_to_f32(reinterpret_cast<const uint16_t*>(w)[i]);
  }
};
struct LoadBF16 {
  static float at(const char* w, int64_t i) {
    return bf16_to_f32(reinterpret_cast<const uint16_t*>(w)[i]);
  }
};

// ---- 32-element blocks, ActRow32 activations ----
// Each block type gives its levels as integers: x = scale * level + offset, with `offset`
// nonzero only for Q4_1/Q5_1 (the block's m).

template <typename B>
struct Levels32;

template <>
struct Levels32<BlockQ4_0> {
  static void get(const BlockQ4_0& b, int* q, float* d, float* m) {
    for (int j = 0; j < 16; ++j) {
      q[j] = (b.qs[j] & 0xF) - 8;
      q[j + 16] = (b.qs[j] >> 4) - 8;
    }
    *d = f16_to_f32(b.d);
    *m = 0;
  }
};
template <>
struct Levels32<BlockQ4_1> {
  static void get(const BlockQ4_1& b, int* q, float* d, float* m) {
    for (int j = 0; j < 16; ++j) {
      q[j] = b.qs[j] & 0xF;
      q[j + 16] = b.qs[j] >> 4;
    }
    *d = f16_to_f32(b.d);
    *m = f16_to_f32(b.m);
  }
};
inline uint32_t qh_word(const uint8_t* qh) {
  return static_cast<uint32_t>(qh[0]) | (static_cast<uint32_t>(qh[1]) << 8) |
         (static_cast<uint32_t>(qh[2]) << 16) | (static_cast<uint32_t>(qh[3]) << 24);
}
template <>
struct Levels32<BlockQ5_0> {
  static void get(const BlockQ5_0& b, int* q, float* d, float* m) {
    const uint32_t qh = qh_word(b.qh);
    for (int j = 0; j < 16; ++j) {
      q[j] = ((b.qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
      q[j + 16] = ((b.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
    }
    *d = f16_to_f32(b.d);
    *m = 0;
  }
};
template <>
struct Levels32<BlockQ5_1> {
  static void get(const BlockQ5_1& b, int* q, float* d, float* m) {
    const uint32_t qh = qh_word(b.qh);
    for (int j = 0; j < 16; ++j) {
      q[j] = (b.qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      q[j + 16] = (b.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    }
    *d = f16_to_f32(b.d);
    *m = f16_to_f32(b.m);
  }
};
template <>
struct Levels32<BlockQ8_0> {
  static void get(const BlockQ8_0& b, int* q, float* d, float* m) {
    for (int j = 0; j < 32; ++j) q[j] = b.qs[j];
    *d = f16_to_f32(b.d);
    *m = 0;
  }
};
template <>
struct Levels32<BlockIQ4_NL> {
  static void get(const BlockIQ4_NL& b, int* q, float* d, float* m) {
    for (int j = 0; j < 16; ++j) {
      q[j] = kIq4nlValues[b.qs[j] & 0xF];
      q[j + 16] = kIq4nlValues[b.qs[j] >> 4];
    }
    *d = f16_to_f32(b.d);
    *m = 0;
  }
};

template <typename B>
struct Block32Dot {
  template <int T>
  static void dot(const char* w, const char* const* a, int64_t n, float* out) {
    const B* wb = reinterpret_cast<const B*>(w);
    float acc[T] = {};
    ActRow32 x[T];
    for (int k = 0; k < T; ++k) x[k] = act_row32(a[k], n);
    for (int64_t i = 0; i < n / 32; ++i) {
      int q[32];
      float d, m;
      Levels32<B>::get(wb[i], q, &d, &m);
      for (int k = 0; k < T; ++k) {
        for (int h = 0; h < 2; ++h) {  // the activation's scale per half block
          int32_t s = 0;
          for (int j = 16 * h; j < 16 * h + 16; ++j) s += q[j] * x[k].qs[32 * i + j];
          const int64_t at = act_half_index(i, h, n / 32);
          acc[k] += d * x[k].d[at] * static_cast<float>(s) + m * x[k].ds[at];
        }
      }
    }
    for (int k = 0; k < T; ++k) out[k] = acc[k];
  }
};

// ---- 256-element super-blocks, ActBlock256 activations ----
// Each type gives, per super-block, integer levels q[256], integer sub-block scales (and
// mins) and the float factors: x = d * sc[sub] * q - dmin * mn[sub], sub = e / sub_size.

struct SuperLevels {
  int q[256];
  int sc[16];  // per sub-block
  int mn[16];  // per sub-block (K quants with mins), else 0
  int sub;     // sub-block size: 16 or 32
  float d, dmin;
};

inline void levels(const BlockQ2_K& b, SuperLevels* L) {
  L->sub = 16;
  for (int e = 0; e < 256; ++e) {
    L->q[e] = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
  }
  for (int j = 0; j < 16; ++j) {
    L->sc[j] = b.scales[j] & 0xF;
    L->mn[j] = b.scales[j] >> 4;
  }
  L->d = f16_to_f32(b.d);
  L->dmin = f16_to_f32(b.dmin);
}
inline void levels(const BlockQ3_K& b, SuperLevels* L) {
  L->sub = 16;
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, plane = (e % 128) / 32, l = e % 32;
    const int low = (b.qs[32 * h + l] >> (2 * plane)) & 3;
    const int high = (b.hmask[l] >> (4 * h + plane)) & 1;
    L->q[e] = low - (high ? 0 : 4);
  }
  uint8_t sc[16];
  unpack_q3_k_scales(b.scales, sc);
  for (int j = 0; j < 16; ++j) {
    L->sc[j] = sc[j] - 32;
    L->mn[j] = 0;
  }
  L->d = f16_to_f32(b.d);
  L->dmin = 0;
}
inline void levels(const BlockQ4_K& b, SuperLevels* L) {
  L->sub = 32;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_k_scale_min(b.scales, j, &sc, &m);
    L->sc[j] = sc;
    L->mn[j] = m;
    for (int l = 0; l < 32; ++l) {
      const uint8_t v = b.qs[32 * (j / 2) + l];
      L->q[32 * j + l] = j % 2 ? v >> 4 : v & 0xF;
    }
  }
  L->d = f16_to_f32(b.d);
  L->dmin = f16_to_f32(b.dmin);
}
inline void levels(const BlockQ5_K& b, SuperLevels* L) {
  L->sub = 32;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_k_scale_min(b.scales, j, &sc, &m);
    L->sc[j] = sc;
    L->mn[j] = m;
    for (int l = 0; l < 32; ++l) {
      const uint8_t v = b.qs[32 * (j / 2) + l];
      L->q[32 * j + l] = (j % 2 ? v >> 4 : v & 0xF) | (((b.qh[l] >> j) & 1) << 4);
    }
  }
  L->d = f16_to_f32(b.d);
  L->dmin = f16_to_f32(b.dmin);
}
inline void levels(const BlockQ6_K& b, SuperLevels* L) {
  L->sub = 16;
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    int* q = L->q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      q[l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      q[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      q[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      q[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
    }
  }
  for (int j = 0; j < 16; ++j) {
    L->sc[j] = b.scales[j];
    L->mn[j] = 0;
  }
  L->d = f16_to_f32(b.d);
  L->dmin = 0;
}
inline void levels(const BlockIQ4_XS& b, SuperLevels* L) {
  L->sub = 32;
  for (int j = 0; j < 8; ++j) {
    L->sc[j] =
        (((b.scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((b.scales_h >> (2 * j)) & 3) << 4)) - 32;
    L->mn[j] = 0;
    for (int k = 0; k < 16; ++k) {
      L->q[32 * j + k] = kIq4nlValues[b.qs[16 * j + k] & 0xF];
      L->q[32 * j + k + 16] = kIq4nlValues[b.qs[16 * j + k] >> 4];
    }
  }
  L->d = f16_to_f32(b.d);
  L->dmin = 0;
}

template <typename B>
struct SuperDot {
  template <int T>
  static void dot(const char* w, const char* const* a, int64_t n, float* out) {
    const B* wb = reinterpret_cast<const B*>(w);
    float acc[T] = {};
    SuperLevels L;
    for (int64_t i = 0; i < n / 256; ++i) {
      levels(wb[i], &L);
      const int n_sub = 256 / L.sub;
      for (int k = 0; k < T; ++k) {
        const ActBlock256& x = reinterpret_cast<const ActBlock256*>(a[k])[i];
        int64_t s = 0, smin = 0;
        for (int j = 0; j < n_sub; ++j) {
          int64_t part = 0;
          for (int e = j * L.sub; e < (j + 1) * L.sub; ++e) part += L.q[e] * x.qs[e];
          s += L.sc[j] * x.m[j * L.sub / 32] * part;
          const int xs = L.sub == 16 ? x.bsums[j] : x.bsums[2 * j] + x.bsums[2 * j + 1];
          smin += L.mn[j] * xs;
        }
        acc[k] += x.d * (L.d * static_cast<float>(s) - L.dmin * static_cast<float>(smin));
      }
    }
    for (int k = 0; k < T; ++k) out[k] = acc[k];
  }
};

float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32_scalar(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

float dot_f32_f16_scalar(const float* a, const uint16_t* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * f16_to_f32(b[i]);
  return s;
}

void axpy_f16_scalar(float a, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * f16_to_f32(x[i]);
}

}  // namespace

void register_scalar_kernels(TypeKernels* t, VecKernels* vec) {
  auto set = [t](DType d, ActFormat act, GemmFn fn) { t[static_cast<int>(d)] = {act, fn}; };
  set(DType::kF32, ActFormat::kF32, gemm_of<FloatDot<LoadF32>>);
  set(DType::kF16, ActFormat::kF32, gemm_of<FloatDot<LoadF16>>);
  set(DType::kBF16, ActFormat::kF32, gemm_of<FloatDot<LoadBF16>>);
  set(DType::kQ4_0, ActFormat::kQ8x32, gemm_of<Block32Dot<BlockQ4_0>>);
  set(DType::kQ4_1, ActFormat::kQ8x32, gemm_of<Block32Dot<BlockQ4_1>>);
  set(DType::kQ5_0, ActFormat::kQ8x32, gemm_of<Block32Dot<BlockQ5_0>>);
  set(DType::kQ5_1, ActFormat::kQ8x32, gemm_of<Block32Dot<BlockQ5_1>>);
  set(DType::kQ8_0, ActFormat::kQ8x32, gemm_of<Block32Dot<BlockQ8_0>>);
  set(DType::kIQ4_NL, ActFormat::kQ8x32, gemm_of<Block32Dot<BlockIQ4_NL>>);
  set(DType::kQ2_K, ActFormat::kQ8x256, gemm_of<SuperDot<BlockQ2_K>>);
  set(DType::kQ3_K, ActFormat::kQ8x256, gemm_of<SuperDot<BlockQ3_K>>);
  set(DType::kQ4_K, ActFormat::kQ8x256, gemm_of<SuperDot<BlockQ4_K>>);
  set(DType::kQ5_K, ActFormat::kQ8x256, gemm_of<SuperDot<BlockQ5_K>>);
  set(DType::kQ6_K, ActFormat::kQ8x256, gemm_of<SuperDot<BlockQ6_K>>);
  set(DType::kIQ4_XS, ActFormat::kQ8x256, gemm_of<SuperDot<BlockIQ4_XS>>);
  vec->dot_f32 = dot_f32_scalar;
  vec->axpy_f32 = axpy_f32_scalar;
  vec->dot_f32_f16 = dot_f32_f16_scalar;
  vec->axpy_f16 = axpy_f16_scalar;
}

}  // namespace strata::cpu
