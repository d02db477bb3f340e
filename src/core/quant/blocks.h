#pragma once
// ggml's quantized block layouts, byte for byte (GGUF spec; ggml's type documentation).
// Every field is little-endian; `half` fields are IEEE binary16. Blocks sit back to back in
// a row, so a row of n elements is n / kElems blocks. Shared by the codecs (core/quant) and
// the CPU kernels (backend/cpu).

#include <cstdint>

namespace strata::quant {

using half = uint16_t;

// ---- 32-element blocks ----
constexpr int kQK = 32;

// x = d * (q - 8), q = 4 bits: element j in the low nibble of qs[j], element j + 16 in its
// high nibble.
struct BlockQ4_0 {
  half d;
  uint8_t qs[kQK / 2];
};
// x = d * q + m, q = 4 bits (same nibble order).
struct BlockQ4_1 {
  half d, m;
  uint8_t qs[kQK / 2];
};
// x = d * (q - 16), q = 5 bits: nibbles as Q4_0, bit 4 of element j is bit j of qh (as a
// little-endian uint32).
struct BlockQ5_0 {
  half d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// x = d * q + m, q = 5 bits (as Q5_0).
struct BlockQ5_1 {
  half d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// x = d * q.
struct BlockQ8_0 {
  half d;
  int8_t qs[kQK];
};
// x = d * q; s = d * sum(q).
struct BlockQ8_1 {
  half d, s;
  int8_t qs[kQK];
};
// x = d * kIq4nlValues[q], q = 4 bits (nibble order of Q4_0).
struct BlockIQ4_NL {
  half d;
  uint8_t qs[kQK / 2];
};

// The 16 levels of IQ4_NL and IQ4_XS, a non-linear grid denser near zero.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// ---- 256-element super-blocks ("K" quants) ----
constexpr int kQK_K = 256;
constexpr int kKScaleBytes = 12;

// 16 sub-blocks of 16: x = d * (scales[i] & 15) * q - dmin * (scales[i] >> 4), q = 2 bits.
// In each half of 128, qs[32] holds four 2-bit planes (shift 0, 2, 4, 6); plane p of bytes
// 0..15 is sub-block 2p, of bytes 16..31 sub-block 2p + 1.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  half d, dmin;
};
// 16 sub-blocks of 16: x = d * (s_i - 32) * (q - (hbit ? 0 : 4)), q = 2 low bits laid out as
// Q2_K, the high bit in hmask (bit b of hmask[l] belongs to plane b); s_i = 6-bit scales
// packed in 12 bytes (low 4 bits in bytes 0..7, high 2 bits in bytes 8..11).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[kKScaleBytes];
  half d;
};
// 8 sub-blocks of 32: x = d * sc_i * q - dmin * m_i, q = 4 bits; in each 64, qs[32] holds
// sub-block 2k in the low nibbles and 2k + 1 in the high nibbles. sc_i, m_i: 6 bits packed
// in 12 bytes (unpack_k_scale_min).
struct BlockQ4_K {
  half d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
// As Q4_K with a 5th bit: bit 4 of element l of sub-block i is bit i of qh[l].
struct BlockQ5_K {
  half d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
// 16 sub-blocks of 16: x = d * scales[i] * (q - 32), q = 6 bits: 4 low bits in ql, 2 high
// bits in qh (see the codec for the order).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  half d;
};
// The activation format of the K quants in ggml: x = d * q, bsums = sums of 16 q.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
// 8 sub-blocks of 32: x = d * (ls_i - 32) * kIq4nlValues[q], q = 4 bits (nibble order of
// Q4_0 within each sub-block); ls_i = 6 bits: low 4 in scales_l, high 2 in scales_h.
struct BlockIQ4_XS {
  half d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36 &&
              sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292 &&
              sizeof(BlockIQ4_XS) == 136);

// The j-th (0..7) 6-bit scale and min of a Q4_K/Q5_K super-block: bytes 0..3 hold the low 6
// bits of scales 0..3, bytes 4..7 of mins 0..3; for j >= 4 the low 4 bits come from bytes
// 8..11 (scale in the low nibble, min in the high) and the high 2 bits from the top bits of
// bytes j-4 (scale) and j (min).
inline void unpack_k_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// The 16 6-bit scales of a Q3_K super-block, as stored (0..63; the value is s - 32): scale
// i's low 4 bits are the low (i < 8) or high (i >= 8) nibble of byte i % 8, its high 2 bits
// are bits 2*(i/4) and 2*(i/4) + 1 of byte 8 + i % 4.
inline void unpack_q3_k_scales(const uint8_t* s, uint8_t out[16]) {
  for (int i = 0; i < 16; ++i) {
    const uint8_t low = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
    const uint8_t high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = static_cast<uint8_t>(low | (high << 4));
  }
}

}  // namespace strata::quant
