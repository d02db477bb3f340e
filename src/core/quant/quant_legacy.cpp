// Codecs of the 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL.
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/quant/blocks.h"
#include "core/quant/codecs.h"
#include "core/quant/fit.h"

namespace strata::quant {

namespace {

// The 5th bits of a Q5 block as one little-endian word.
uint32_t load_qh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

// Packs levels q[0..31] (0..15) into Q4_0's nibble order.
void pack_nibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>(q[j] | (q[j + kQK / 2] << 4));
}

}  // namespace

// ---- Q4_0 ----

void q4_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = d * ((b[i].qs[j] & 0xF) - 8);
      dst[j + kQK / 2] = d * ((b[i].qs[j] >> 4) - 8);
    }
  }
}

void q4_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    b[i].d = f32_to_f16(fit_symmetric(src, kQK, -8, 7));
    const float d = f16_to_f32(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
    int q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = std::clamp(round_level(src[j] * id), -8, 7) + 8;
    pack_nibbles(q, b[i].qs);
  }
}

// ---- Q4_1 ----

void q4_1_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = d * (b[i].qs[j] & 0xF) + m;
      dst[j + kQK / 2] = d * (b[i].qs[j] >> 4) + m;
    }
  }
}

void q4_1_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float a, m;
    fit_affine(src, kQK, 15, /*min_at_most_zero=*/false, &a, &m);
    b[i].d = f32_to_f16(a);
    b[i].m = f32_to_f16(m);
    const float d = f16_to_f32(b[i].d), mm = f16_to_f32(b[i].m), id = d != 0 ? 1.0f / d : 0.0f;
    int q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = std::clamp(round_level((src[j] - mm) * id), 0, 15);
    pack_nibbles(q, b[i].qs);
  }
}

// ---- Q5_0 ----

void q5_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = f16_to_f32(b[i].d);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      dst[j] = d * (lo - 16);
      dst[j + kQK / 2] = d * (hi - 16);
    }
  }
}

void q5_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    b[i].d = f32_to_f16(fit_symmetric(src, kQK, -16, 15));
    const float d = f16_to_f32(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
    int q[kQK];
    uint32_t qh = 0;
    for (int j = 0; j < kQK; ++j) {
      q[j] = std::clamp(round_level(src[j] * id), -16, 15) + 16;
      qh |= static_cast<uint32_t>(q[j] >> 4) << j;
      q[j] &= 0xF;
    }
    pack_nibbles(q, b[i].qs);
    std::memcpy(b[i].qh, &qh, 4);
  }
}

// ---- Q5_1 ----

void q5_1_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      dst[j] = d * lo + m;
      dst[j + kQK / 2] = d * hi + m;
    }
  }
}

void q5_1_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float a, m;
    fit_affine(src, kQK, 31, /*min_at_most_zero=*/false, &a, &m);
    b[i].d = f32_to_f16(a);
    b[i].m = f32_to_f16(m);
    const float d = f16_to_f32(b[i].d), mm = f16_to_f32(b[i].m), id = d != 0 ? 1.0f / d : 0.0f;
    int q[kQK];
    uint32_t qh = 0;
    for (int j = 0; j < kQK; ++j) {
      q[j] = std::clamp(round_level((src[j] - mm) * id), 0, 31);
      qh |= static_cast<uint32_t>(q[j] >> 4) << j;
      q[j] &= 0xF;
    }
    pack_nibbles(q, b[i].qs);
    std::memcpy(b[i].qh, &qh, 4);
  }
}

// ---- Q8_0, Q8_1 ----

void q8_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = d * b[i].qs[j];
  }
}

// The max-based scale: with 255 levels a search gains nothing measurable.
void q8_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    b[i].d = f32_to_f16(amax / 127);
    const float d = f16_to_f32(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQK; ++j) {
      b[i].qs[j] = static_cast<int8_t>(std::clamp(round_level(src[j] * id), -127, 127));
    }
  }
}

void q8_1_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = d * b[i].qs[j];
  }
}

void q8_1_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      b[i].qs[j] = static_cast<int8_t>(std::clamp(round_level(src[j] * id), -127, 127));
      sum += b[i].qs[j];
    }
    b[i].d = f32_to_f16(d);
    b[i].s = f32_to_f16(d * sum);
  }
}

// ---- IQ4_NL ----

void iq4_nl_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = d * kIq4nlValues[b[i].qs[j] & 0xF];
      dst[j + kQK / 2] = d * kIq4nlValues[b[i].qs[j] >> 4];
    }
  }
}

void iq4_nl_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    b[i].d = f32_to_f16(fit_iq4(src, kQK));
    const float d = f16_to_f32(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
    int q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = nearest_iq4(src[j] * id);
    pack_nibbles(q, b[i].qs);
  }
}

}  // namespace strata::quant
