// Codecs of the 256-element super-block types: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_XS.
// The quantizers fit each sub-block's scale (and min) on its own (quant/fit.h), quantize
// those to the super-block's 4/6/8-bit grid, then choose every element's level against the
// quantized scales, so what is stored is what the search optimized.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/quant/blocks.h"
#include "core/quant/codecs.h"
#include "core/quant/fit.h"

namespace strata::quant {

namespace {

// Largest-magnitude value of v[0..n).
float extreme_of(const float* v, int n) {
  float e = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(v[i]) > std::fabs(e)) e = v[i];
  }
  return e;
}

uint8_t to_u6(float v, float d) {
  return static_cast<uint8_t>(d > 0 ? std::clamp(round_level(v / d), 0, 63) : 0);
}

// Inverse of unpack_k_scale_min for eight 6-bit scales and mins.
void pack_k_scale_min(const uint8_t* sc, const uint8_t* m, uint8_t* s) {
  std::memset(s, 0, kKScaleBytes);
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

// Q4_K and Q5_K: eight sub-blocks of 32, x = d * sc * q - dmin * m, q in [0, qmax]. Fills
// d, dmin, the packed scales and the levels q[256].
void quantize_k_affine(const float* x, int qmax, half* d_out, half* dmin_out, uint8_t* scales,
                       int* q) {
  float a[8], mins[8];
  for (int j = 0; j < 8; ++j) {
    float b;
    fit_affine(x + 32 * j, 32, qmax, /*min_at_most_zero=*/true, &a[j], &b);
    mins[j] = -b;
  }
  const float max_a = *std::max_element(a, a + 8), max_m = *std::max_element(mins, mins + 8);
  *d_out = f32_to_f16(max_a / 63);
  *dmin_out = f32_to_f16(max_m / 63);
  const float d = f16_to_f32(*d_out), dmin = f16_to_f32(*dmin_out);
  uint8_t sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = to_u6(a[j], d);
    m[j] = to_u6(mins[j], dmin);
  }
  pack_k_scale_min(sc, m, scales);
  for (int j = 0; j < 8; ++j) {
    const float dl = d * sc[j], ml = dmin * m[j];
    for (int l = 0; l < 32; ++l) {
      q[32 * j + l] = dl > 0 ? std::clamp(round_level((x[32 * j + l] + ml) / dl), 0, qmax) : 0;
    }
  }
}

// Q4_K/Q5_K low nibbles: in each 64, sub-block 2k low, 2k + 1 high.
void pack_k_nibbles(const int* q, uint8_t* qs) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * c + l] = static_cast<uint8_t>((q[64 * c + l] & 0xF) | ((q[64 * c + 32 + l] & 0xF) << 4));
    }
  }
}

}  // namespace

// ---- Q2_K ----

void q2_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, plane = (e % 128) / 32, l = e % 32, sub = e / 16;
      const int q = (b[i].qs[32 * h + l] >> (2 * plane)) & 3;
      dst[e] = d * (b[i].scales[sub] & 0xF) * q - dmin * (b[i].scales[sub] >> 4);
    }
  }
}

void q2_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ2_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float a[16], mins[16];
    for (int j = 0; j < 16; ++j) {
      float off;
      fit_affine(src + 16 * j, 16, 3, /*min_at_most_zero=*/true, &a[j], &off);
      mins[j] = -off;
    }
    b[i].d = f32_to_f16(*std::max_element(a, a + 16) / 15);
    b[i].dmin = f32_to_f16(*std::max_element(mins, mins + 16) / 15);
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    std::memset(b[i].qs, 0, sizeof(b[i].qs));
    for (int j = 0; j < 16; ++j) {
      const int sc = d > 0 ? std::clamp(round_level(a[j] / d), 0, 15) : 0;
      const int m = dmin > 0 ? std::clamp(round_level(mins[j] / dmin), 0, 15) : 0;
      b[i].scales[j] = static_cast<uint8_t>(sc | (m << 4));
      const float dl = d * sc, ml = dmin * m;
      for (int k = 0; k < 16; ++k) {
        const int e = 16 * j + k;
        const int q = dl > 0 ? std::clamp(round_level((src[e] + ml) / dl), 0, 3) : 0;
        b[i].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q << (2 * ((e % 128) / 32)));
      }
    }
  }
}

// ---- Q3_K ----

void q3_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = f16_to_f32(b[i].d);
    uint8_t sc[16];
    unpack_q3_k_scales(b[i].scales, sc);
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, plane = (e % 128) / 32, l = e % 32;
      const int low = (b[i].qs[32 * h + l] >> (2 * plane)) & 3;
      const int high = (b[i].hmask[l] >> (4 * h + plane)) & 1;
      dst[e] = d * (sc[e / 16] - 32) * (low - (high ? 0 : 4));
    }
  }
}

void q3_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float a[16];
    for (int j = 0; j < 16; ++j) a[j] = fit_symmetric(src + 16 * j, 16, -4, 3);
    b[i].d = f32_to_f16(extreme_of(a, 16) / -32);
    const float d = f16_to_f32(b[i].d);
    std::memset(b[i].hmask, 0, sizeof(b[i].hmask));
    std::memset(b[i].qs, 0, sizeof(b[i].qs));
    std::memset(b[i].scales, 0, sizeof(b[i].scales));
    for (int j = 0; j < 16; ++j) {
      const int sc = d != 0 ? std::clamp(round_level(a[j] / d), -32, 31) : 0;
      const uint8_t v = static_cast<uint8_t>(sc + 32);
      if (j < 8) {
        b[i].scales[j] |= v & 0xF;
      } else {
        b[i].scales[j - 8] |= static_cast<uint8_t>((v & 0xF) << 4);
      }
      b[i].scales[8 + j % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (j / 4)));
      const float dl = d * sc;
      for (int k = 0; k < 16; ++k) {
        const int e = 16 * j + k, h = e / 128, plane = (e % 128) / 32, l = e % 32;
        const int q = (dl != 0 ? std::clamp(round_level(src[e] / dl), -4, 3) : 0) + 4;
        b[i].qs[32 * h + l] |= static_cast<uint8_t>((q & 3) << (2 * plane));
        b[i].hmask[l] |= static_cast<uint8_t>((q >> 2) << (4 * h + plane));
      }
    }
  }
}

// ---- Q4_K ----

void q4_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_k_scale_min(b[i].scales, j, &sc, &m);
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        const int v = j % 2 ? q[l] >> 4 : q[l] & 0xF;
        dst[32 * j + l] = d * sc * v - dmin * m;
      }
    }
  }
}

void q4_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    int q[kQK_K];
    quantize_k_affine(src, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
    pack_k_nibbles(q, b[i].qs);
  }
}

// ---- Q5_K ----

void q5_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_k_scale_min(b[i].scales, j, &sc, &m);
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        const int v = (j % 2 ? q[l] >> 4 : q[l] & 0xF) | (((b[i].qh[l] >> j) & 1) << 4);
        dst[32 * j + l] = d * sc * v - dmin * m;
      }
    }
  }
}

void q5_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    int q[kQK_K];
    quantize_k_affine(src, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int e = 0; e < kQK_K; ++e) b[i].qh[e % 32] |= static_cast<uint8_t>((q[e] >> 4) << (e / 32));
    pack_k_nibbles(q, b[i].qs);
  }
}

// ---- Q6_K ----
// In each half of 128: ql[l] holds elements l (low nibble) and l + 64 (high), ql[l + 32]
// elements l + 32 and l + 96; qh[l] the high 2 bits of l, l + 32, l + 64, l + 96 (bits 0-1,
// 2-3, 4-5, 6-7). Sub-block = element / 16.

void q6_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = f16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      float* y = dst + 128 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[l / 16] * q1;
        y[l + 32] = d * sc[2 + l / 16] * q2;
        y[l + 64] = d * sc[4 + l / 16] * q3;
        y[l + 96] = d * sc[6 + l / 16] * q4;
      }
    }
  }
}

void q6_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float a[16];
    for (int j = 0; j < 16; ++j) a[j] = fit_symmetric(src + 16 * j, 16, -32, 31);
    b[i].d = f32_to_f16(extreme_of(a, 16) / -128);
    const float d = f16_to_f32(b[i].d);
    int q[kQK_K];
    for (int j = 0; j < 16; ++j) {
      const int sc = d != 0 ? std::clamp(round_level(a[j] / d), -128, 127) : 0;
      b[i].scales[j] = static_cast<int8_t>(sc);
      const float dl = d * sc;
      for (int k = 0; k < 16; ++k) {
        const int e = 16 * j + k;
        q[e] = (dl != 0 ? std::clamp(round_level(src[e] / dl), -32, 31) : 0) + 32;
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        b[i].ql[64 * h + l] = static_cast<uint8_t>((qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4));
        b[i].ql[64 * h + l + 32] = static_cast<uint8_t>((qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4));
        b[i].qh[32 * h + l] = static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                                   ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
      }
    }
  }
}

// ---- Q8_K ----

void q8_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    for (int e = 0; e < kQK_K; ++e) dst[e] = b[i].d * b[i].qs[e];
  }
}

void q8_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float amax = 0;
    for (int e = 0; e < kQK_K; ++e) amax = std::max(amax, std::fabs(src[e]));
    b[i].d = amax / 127;
    const float id = amax > 0 ? 127 / amax : 0.0f;
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int k = 0; k < 16; ++k) {
        const int v = std::clamp(round_level(src[16 * g + k] * id), -127, 127);
        b[i].qs[16 * g + k] = static_cast<int8_t>(v);
        sum += v;
      }
      b[i].bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

// ---- IQ4_XS ----

void iq4_xs_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < 8; ++j) {
      const int ls = ((b[i].scales_l[j / 2] >> (4 * (j % 2))) & 0xF) |
                     (((b[i].scales_h >> (2 * j)) & 3) << 4);
      const float dl = d * (ls - 32);
      const uint8_t* qs = b[i].qs + 16 * j;
      for (int k = 0; k < 16; ++k) {
        dst[32 * j + k] = dl * kIq4nlValues[qs[k] & 0xF];
        dst[32 * j + k + 16] = dl * kIq4nlValues[qs[k] >> 4];
      }
    }
  }
}

void iq4_xs_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_XS*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float a[8];
    for (int j = 0; j < 8; ++j) a[j] = fit_iq4(src + 32 * j, 32);
    b[i].d = f32_to_f16(extreme_of(a, 8) / -32);
    const float d = f16_to_f32(b[i].d);
    b[i].scales_h = 0;
    std::memset(b[i].scales_l, 0, sizeof(b[i].scales_l));
    for (int j = 0; j < 8; ++j) {
      const int ls = (d != 0 ? std::clamp(round_level(a[j] / d), -32, 31) : 0) + 32;
      b[i].scales_l[j / 2] |= static_cast<uint8_t>((ls & 0xF) << (4 * (j % 2)));
      b[i].scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * j));
      const float dl = d * (ls - 32), idl = dl != 0 ? 1.0f / dl : 0.0f;
      for (int k = 0; k < 16; ++k) {
        const int lo = nearest_iq4(src[32 * j + k] * idl);
        const int hi = nearest_iq4(src[32 * j + k + 16] * idl);
        b[i].qs[16 * j + k] = static_cast<uint8_t>(lo | (hi << 4));
      }
    }
  }
}

}  // namespace strata::quant
