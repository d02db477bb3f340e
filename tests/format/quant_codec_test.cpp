// The codecs of the type table (core/dtype.h, core/quant/): every weight type's dequantization
// on hand-made blocks whose values are worked out here from the layout, on blocks ggml itself
// quantized (tests/data/quant/ggml_blocks.json: ggml's bytes and the floats ggml decodes them
// to), and the reference quantizers' error against what ggml's reference quantizers reach on
// the same data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/quant/blocks.h"

namespace strata {
namespace {

using namespace quant;

constexpr uint16_t kHalfOne = 0x3C00, kHalfHalf = 0x3800, kHalfQuarter = 0x3400,
                   kHalfTwo = 0x4000, kHalfMinusOne = 0xBC00;

template <typename B>
std::vector<float> decode(DType t, const B& b) {
  std::vector<float> out(type_traits(t).block_elems);
  type_traits(t).to_float(&b, out.data(), static_cast<int64_t>(out.size()));
  return out;
}

TEST(QuantCodec, HandMadeBlocks32) {
  BlockQ4_0 q40{};
  q40.d = kHalfHalf;
  for (int j = 0; j < 16; ++j) q40.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> v = decode(DType::kQ4_0, q40);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(v[j], 0.5f * (j - 8)) << j;             // low nibble j
    EXPECT_EQ(v[j + 16], 0.5f * (15 - j - 8)) << j;   // high nibble 15 - j
  }

  BlockQ4_1 q41{};
  q41.d = kHalfQuarter;
  q41.m = kHalfMinusOne;
  q41.qs[0] = 0x21;
  v = decode(DType::kQ4_1, q41);
  EXPECT_EQ(v[0], 0.25f * 1 - 1);
  EXPECT_EQ(v[16], 0.25f * 2 - 1);
  EXPECT_EQ(v[5], -1.0f);

  BlockQ5_0 q50{};
  q50.d = kHalfOne;
  q50.qs[0] = 0x0F;
  q50.qh[0] = 0x01;  // bit 0: element 0's fifth bit; bit 16 (element 16) clear
  v = decode(DType::kQ5_0, q50);
  EXPECT_EQ(v[0], (15 | 16) - 16.0f);
  EXPECT_EQ(v[16], 0 - 16.0f);

  BlockQ5_1 q51{};
  q51.d = kHalfOne;
  q51.m = kHalfHalf;
  q51.qs[3] = 0xA5;
  q51.qh[2] = 0x08;  // bit 19: element 19 (the high nibble of qs[3])
  v = decode(DType::kQ5_1, q51);
  EXPECT_EQ(v[3], 5 + 0.5f);
  EXPECT_EQ(v[19], (10 | 16) + 0.5f);

  BlockQ8_0 q80{};
  q80.d = kHalfTwo;
  q80.qs[5] = -3;
  q80.qs[31] = 127;
  v = decode(DType::kQ8_0, q80);
  EXPECT_EQ(v[5], -6.0f);
  EXPECT_EQ(v[31], 254.0f);

  BlockIQ4_NL iq{};
  iq.d = kHalfHalf;
  iq.qs[0] = 0xF0;
  iq.qs[1] = 0x78;
  v = decode(DType::kIQ4_NL, iq);
  EXPECT_EQ(v[0], 0.5f * -127);  // level 0
  EXPECT_EQ(v[16], 0.5f * 113);  // level 15
  EXPECT_EQ(v[1], 0.5f * 1);     // level 8
  EXPECT_EQ(v[17], 0.5f * -10);  // level 7
}

TEST(QuantCodec, HandMadeSuperBlocks) {
  // Q2_K: sub-block 1 (elements 16..31) has scale 2, min 3; element 16 is plane 0 of qs[16].
  BlockQ2_K q2{};
  q2.d = kHalfOne;
  q2.dmin = kHalfHalf;
  q2.scales[1] = 0x32;
  q2.qs[16] = 0x02 | (0x3 << 2);  // plane 0: level 2 (element 16); plane 1: level 3 (element 48)
  q2.scales[3] = 0x01;            // sub-block 3 (elements 48..63): scale 1, min 0
  std::vector<float> v = decode(DType::kQ2_K, q2);
  EXPECT_EQ(v[16], 1.0f * 2 * 2 - 0.5f * 3);
  EXPECT_EQ(v[17], 1.0f * 2 * 0 - 0.5f * 3);
  EXPECT_EQ(v[48], 1.0f * 1 * 3);
  EXPECT_EQ(v[0], 0.0f);

  // Q3_K: sub-block 0 scale raw 33 (value 1): low 4 bits in byte 0, high 2 in byte 8 bits 0-1.
  // Sub-block 9 raw 40 (value 8): low 4 bits in the high nibble of byte 1, high 2 in byte 9 bits
  // 4-5 (9 / 4 = 2).
  BlockQ3_K q3{};
  q3.d = kHalfHalf;
  q3.scales[0] = 33 & 0xF;
  q3.scales[8] = 33 >> 4;
  q3.scales[1] = static_cast<uint8_t>((40 & 0xF) << 4);
  q3.scales[9] = static_cast<uint8_t>((40 >> 4) << 4);
  q3.qs[0] = 0x3;      // element 0: low bits 3
  q3.hmask[0] = 0x01;  // element 0: high bit set -> level 3 - 0
  q3.qs[1] = 0x1;      // element 1: low bits 1, high bit clear -> 1 - 4
  // Element 144 = half 1, plane 0, l = 16: sub-block 9; low bits 2, high bit (bit 4) set.
  q3.qs[32 + 16] = 0x2;
  q3.hmask[16] = 0x10;
  v = decode(DType::kQ3_K, q3);
  EXPECT_EQ(v[0], 0.5f * 1 * 3);
  EXPECT_EQ(v[1], 0.5f * 1 * (1 - 4));
  EXPECT_EQ(v[144], 0.5f * 8 * 2);
  EXPECT_EQ(v[145], 0.5f * 8 * (0 - 4));

  // Q4_K: sub-block 1 scale 2, min 1 (bytes 1 and 5); sub-block 5 scale 3 | 1 << 4 = 19 (byte
  // 9 low nibble, top bits of byte 1), min 1 (byte 9 high nibble).
  BlockQ4_K q4{};
  q4.d = kHalfOne;
  q4.dmin = kHalfOne;
  q4.scales[1] = 2 | (1 << 6);
  q4.scales[5] = 1;
  q4.scales[9] = 0x13;
  q4.qs[0] = 0x70;   // element 32 (sub-block 1, high nibble): 7
  q4.qs[64] = 0x20;  // element 160 (sub-block 5, high nibble of the third 32 bytes): 2
  v = decode(DType::kQ4_K, q4);
  EXPECT_EQ(v[32], 1.0f * 2 * 7 - 1.0f * 1);
  EXPECT_EQ(v[160], 1.0f * 19 * 2 - 1.0f * 1);
  EXPECT_EQ(v[0], 0.0f);  // sub-block 0: scale 0, min 0

  // Q5_K: the same, and qh[0] bit 1 adds 16 to element 32 (sub-block 1, l = 0).
  BlockQ5_K q5{};
  q5.d = kHalfOne;
  q5.dmin = kHalfOne;
  std::memcpy(q5.scales, q4.scales, sizeof(q5.scales));
  q5.qs[0] = 0x70;
  q5.qh[0] = 0x02;
  v = decode(DType::kQ5_K, q5);
  EXPECT_EQ(v[32], 1.0f * 2 * (7 + 16) - 1.0f);

  // Q6_K: element 0 = low nibble of ql[0] | bits 0-1 of qh[0] << 4, minus 32, sub-block 0;
  // element 80 = high nibble of ql[16] | bits 4-5 of qh[16] << 4, minus 32, sub-block 5.
  BlockQ6_K q6{};
  q6.d = kHalfOne;
  q6.scales[0] = 2;
  q6.scales[5] = -1;
  q6.ql[0] = 0x0F;
  q6.qh[0] = 0x01;
  q6.ql[16] = 0x30;
  q6.qh[16] = 0x10;
  v = decode(DType::kQ6_K, q6);
  EXPECT_EQ(v[0], 2.0f * ((15 | 16) - 32));
  EXPECT_EQ(v[80], -1.0f * ((3 | 16) - 32));
  EXPECT_EQ(v[64], 0.0f);  // sub-block 4: scale 0

  // IQ4_XS: sub-block 2's scale: low 4 bits in scales_l[1] (low nibble), high 2 in scales_h
  // bits 4-5; 33 - 32 = 1.
  BlockIQ4_XS x{};
  x.d = kHalfTwo;
  x.scales_l[1] = 0x01;
  x.scales_h = 2 << 4;
  x.qs[32] = 0x0F;  // sub-block 2 = elements 64..95, its nibbles in qs[32..47]
  v = decode(DType::kIQ4_XS, x);
  EXPECT_EQ(v[64], 2.0f * 1 * 113);
  EXPECT_EQ(v[80], 2.0f * 1 * -127);
  EXPECT_EQ(v[0], 2.0f * -32 * -127);  // sub-block 0: scale bits 0 -> -32, level 0
}

std::vector<uint8_t> from_hex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(std::stoi(s.substr(2 * i, 2), nullptr, 16));
  return out;
}

// ggml's own quantizer wrote these bytes and ggml's dequantizer gave these floats.
TEST(QuantCodec, DecodesBlocksGgmlWroteExactlyAsGgml) {
  std::ifstream f(std::string(STRATA_TEST_DATA) + "/quant/ggml_blocks.json");
  ASSERT_TRUE(f.good());
  const nlohmann::json j = nlohmann::json::parse(f);
  int checked = 0;
  for (const auto& e : j["types"]) {
    const TypeTraits* tr = find_type(e["id"].get<uint32_t>());
    ASSERT_NE(tr, nullptr);
    SCOPED_TRACE(std::string(tr->name));
    ASSERT_TRUE(tr->weights);
    const int64_t n = e["n"];
    const std::vector<uint8_t> bytes = from_hex(e["bytes"]);
    ASSERT_EQ(bytes.size(), row_bytes(tr->type, n));
    std::vector<float> got(n);
    tr->to_float(bytes.data(), got.data(), n);
    const std::vector<float> want = e["floats"].get<std::vector<float>>();
    ASSERT_EQ(want.size(), static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want[i]) << "element " << i;
    ++checked;
  }
  EXPECT_EQ(checked, 14);
}

// The reference quantizers against ggml's on the same data (64 super-blocks of normal values,
// every 61st scaled by 6): relative squared error no worse than ggml's reference quantizer
// reached on this very data (ggml 0.18, scripts/ggml_quant_xcheck.cpp) plus 5%.
TEST(QuantCodec, QuantizersAreAsAccurateAsGgmls) {
  const struct {
    DType t;
    double ggml_rel_mse;
  } cases[] = {{DType::kQ4_0, 1.826e-02}, {DType::kQ4_1, 9.103e-03}, {DType::kQ5_0, 4.379e-03},
               {DType::kQ5_1, 2.125e-03}, {DType::kQ8_0, 6.943e-05}, {DType::kQ2_K, 1.185e-01},
               {DType::kQ3_K, 3.869e-02}, {DType::kQ4_K, 8.015e-03}, {DType::kQ5_K, 2.007e-03},
               {DType::kQ6_K, 6.229e-04}, {DType::kIQ4_NL, 1.096e-02}, {DType::kIQ4_XS, 1.126e-02}};
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0, 1);
  const int64_t n = 256 * 64;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = nd(rng) * (i % 61 == 0 ? 6.f : 1.f);
  double norm = 0;
  for (float v : x) norm += double(v) * v;
  for (const auto& c : cases) {
    const TypeTraits& tr = type_traits(c.t);
    std::vector<char> q(row_bytes(c.t, n));
    std::vector<float> y(n);
    tr.from_float(x.data(), q.data(), n);
    tr.to_float(q.data(), y.data(), n);
    double err = 0;
    for (int64_t i = 0; i < n; ++i) err += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
    EXPECT_LE(err / norm, c.ggml_rel_mse * 1.05) << tr.name;
  }
}

TEST(QuantCodec, TypeTable) {
  EXPECT_EQ(find_type(13)->name, "Q5_K");
  EXPECT_EQ(find_type(4), nullptr);   // removed from ggml
  EXPECT_EQ(find_type(99), nullptr);
  EXPECT_TRUE(dtype_computable(DType::kIQ4_XS));
  EXPECT_FALSE(dtype_computable(DType::kQ8_K));  // an activation format
  EXPECT_FALSE(dtype_computable(DType::kIQ2_XXS));
  EXPECT_EQ(computable_dtype_by_name("q4_k"), DType::kQ4_K);
  EXPECT_EQ(computable_dtype_by_name("IQ4_XS"), DType::kIQ4_XS);
  EXPECT_EQ(computable_dtype_by_name("q8_k"), std::nullopt);
  EXPECT_EQ(row_bytes(DType::kQ4_K, 4096), 16u * 144);
  EXPECT_EQ(row_bytes(DType::kF16, 7), 14u);
  EXPECT_EQ(dtype_alignment(DType::kQ6_K), 2u);
  EXPECT_EQ(dtype_alignment(DType::kF32), 4u);
}

}  // namespace
}  // namespace strata
