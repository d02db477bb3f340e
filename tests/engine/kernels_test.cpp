// The CPU kernels, every weight type on every dispatch path this CPU runs (a path it cannot
// run is reported as skipped, never as passed):
// - against a double-precision reference over the exactly dequantized weights and the
//   quantized activations the kernel reads, so a layout or scale mistake cannot hide;
// - against the scalar path (NMSE bound), on odd shapes;
// - for quantized weights a batch of tokens gives the same bits as the tokens one at a time
//   (float weights sum in another order for one token than for a batch: within the bound);
//   the thread count never changes a bit.
#include "backend/cpu/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_types.h"
#include "backend/cpu/thread_pool.h"
#include "core/dtype.h"

namespace strata {
namespace {

using cpu::ActFormat;

const DType kWeightTypes[] = {DType::kF32,  DType::kF16,    DType::kBF16,  DType::kQ4_0,
                              DType::kQ4_1, DType::kQ5_0,   DType::kQ5_1,  DType::kQ8_0,
                              DType::kQ2_K, DType::kQ3_K,   DType::kQ4_K,  DType::kQ5_K,
                              DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS};

// Weights with a few large values, as real matrices have (they stretch the block scales).
std::vector<float> random_values(int64_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sd);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = normal(rng) * (i % 61 == 0 ? 8.0f : 1.0f);
  return v;
}

struct Quantized {
  std::vector<char> bytes;
  std::vector<float> deq;  // what the bytes stand for, exactly
  int64_t row_bytes = 0;
};

Quantized quantize(DType t, const std::vector<float>& v, int64_t rows, int64_t cols) {
  Quantized q;
  q.row_bytes = static_cast<int64_t>(row_bytes(t, cols));
  q.bytes.resize(q.row_bytes * rows);
  q.deq.resize(rows * cols);
  const TypeTraits& tr = type_traits(t);
  for (int64_t r = 0; r < rows; ++r) {
    tr.from_float(v.data() + r * cols, q.bytes.data() + r * q.row_bytes, cols);
    tr.to_float(q.bytes.data() + r * q.row_bytes, q.deq.data() + r * cols, cols);
  }
  return q;
}

// The activations a kernel reads, and the values they stand for.
struct Acts {
  std::vector<char> bytes;
  std::vector<double> deq;
  int64_t row_bytes = 0;
};

Acts activations(ActFormat f, const std::vector<float>& x, int64_t n_tok, int64_t cols) {
  Acts a;
  a.row_bytes = cpu::act_row_bytes(f, cols);
  a.bytes.resize(a.row_bytes * n_tok);
  a.deq.resize(n_tok * cols);
  for (int64_t t = 0; t < n_tok; ++t) {
    char* row = a.bytes.data() + t * a.row_bytes;
    cpu::quantize_act_row(f, x.data() + t * cols, cols, row);
    for (int64_t c = 0; c < cols; ++c) {
      double v = 0;
      if (f == ActFormat::kF32) {
        v = reinterpret_cast<const float*>(row)[c];
      } else if (f == ActFormat::kQ8x32) {
        const cpu::ActRow32 r = cpu::act_row32(row, cols);
        v = double(r.d[cpu::act_half_index(c / 32, static_cast<int>(c / 16 % 2), cols / 32)]) *
            r.qs[c];
      } else {
        const auto& b = reinterpret_cast<const cpu::ActBlock256*>(row)[c / 256];
        v = double(b.d) * b.m[c % 256 / 32] * b.qs[c % 256];
      }
      a.deq[t * cols + c] = v;
    }
  }
  return a;
}

struct Case {
  DType type;
  CpuPath path;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(dtype_name(info.param.type)) + "_" + cpu_path_name(info.param.path);
}

// Activations whose magnitude changes from one 32-element sub-block to the next (down to a
// 40th), as hidden states do, so the per-sub-block activation scales and multipliers are
// exercised at every value, not only near the block's maximum.
std::vector<float> uneven_values(int64_t n_tok, int64_t cols, uint32_t seed) {
  std::vector<float> x = random_values(n_tok * cols, seed, 1.0f);
  for (int64_t i = 0; i < n_tok * cols; ++i) {
    const int64_t sub = i % cols / 32;
    x[i] /= static_cast<float>(1 + (sub * 7) % 40);
  }
  return x;
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (DType t : kWeightTypes) {
    for (CpuPath p : {CpuPath::kScalar, CpuPath::kAvx2, CpuPath::kAvx512, CpuPath::kAmx})
      v.push_back({t, p});
  }
  return v;
}

class Kernels : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!cpu_path_supported(GetParam().path)) {
      GTEST_SKIP() << "this CPU cannot run the " << cpu_path_name(GetParam().path) << " path";
    }
  }
  // Odd numbers of blocks, an odd row count.
  std::vector<int64_t> widths() const {
    const int64_t b = type_traits(GetParam().type).block_elems;
    if (b == 1) return {7, 13, 40, 72, 2048 + 5};
    // 256: whole groups of eight blocks only (the VNNI batch kernel's panels without a tail).
    if (b == 32) return {32, 96, 256, 416, 2048 + 32};
    // 2304 and 4096: Q2_K/Q4_K/Q5_K decode takes eight super-blocks at a time (then a tail of one,
    // or none).
    return {256, 768, 2304, 4096};
  }
};

TEST_P(Kernels, MatchTheDoublePrecisionReference) {
  const auto [type, path] = GetParam();
  const cpu::TypeKernels& k = cpu::type_kernels(type, path);
  ASSERT_NE(k.gemm, nullptr);
  const int64_t rows = 37;
  for (int64_t cols : widths()) {
    const Quantized w = quantize(type, random_values(rows * cols, 11 + cols, 0.5f), rows, cols);
    // 9 and 17: batches of 8 or more run the panel kernels on the VNNI path (the 32-element
    // types, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS), 37 rows two 16-row panels and a rest.
    for (int64_t n_tok : {1, 2, 3, 4, 5, 9, 17}) {
      const Acts a = activations(k.act, uneven_values(n_tok, cols, 7 + n_tok), n_tok, cols);
      std::vector<float> y(n_tok * rows, NAN);
      k.gemm(w.bytes.data(), w.row_bytes, rows, a.bytes.data(), a.row_bytes, n_tok, cols, y.data(),
             rows);
      for (int64_t t = 0; t < n_tok; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          double ref = 0, mag = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const double p = double(w.deq[r * cols + c]) * a.deq[t * cols + c];
            ref += p;
            mag += std::fabs(p);
          }
          ASSERT_NEAR(y[t * rows + r], ref, 2e-6 * mag + 1e-7)
              << "cols " << cols << " tokens " << n_tok << " row " << r << " token " << t;
        }
      }
      // The same outputs one token at a time: every bit for quantized weights (integer sums,
      // then the same float steps), the reference bound for float weights (the single-token
      // kernel sums in four chains, a batch in one per tile element).
      for (int64_t t = 0; t < n_tok; ++t) {
        std::vector<float> one(rows);
        k.gemm(w.bytes.data(), w.row_bytes, rows, a.bytes.data() + t * a.row_bytes, a.row_bytes, 1,
               cols, one.data(), rows);
        if (k.act != ActFormat::kF32) {
          ASSERT_EQ(std::memcmp(one.data(), y.data() + t * rows, rows * sizeof(float)), 0)
              << "cols " << cols << " batch of " << n_tok << " token " << t;
        }
        for (int64_t r = 0; r < rows; ++r) {
          double mag = 0;
          for (int64_t c = 0; c < cols; ++c)
            mag += std::fabs(double(w.deq[r * cols + c]) * a.deq[t * cols + c]);
          ASSERT_NEAR(one[r], y[t * rows + r], 4e-6 * mag + 1e-7)
              << "cols " << cols << " token " << t;
        }
      }
    }
  }
}

TEST_P(Kernels, AgreeWithTheScalarPath) {
  const auto [type, path] = GetParam();
  const cpu::TypeKernels& k = cpu::type_kernels(type, path);
  const cpu::TypeKernels& ref = cpu::type_kernels(type, CpuPath::kScalar);
  ASSERT_EQ(k.act, ref.act);
  const int64_t rows = 29;
  for (int64_t cols : widths()) {
    const Quantized w = quantize(type, random_values(rows * cols, 3 + cols, 0.5f), rows, cols);
    const int64_t n_tok = 6;
    const Acts a = activations(k.act, uneven_values(n_tok, cols, 5), n_tok, cols);
    std::vector<float> y(n_tok * rows), s(n_tok * rows);
    k.gemm(w.bytes.data(), w.row_bytes, rows, a.bytes.data(), a.row_bytes, n_tok, cols, y.data(),
           rows);
    ref.gemm(w.bytes.data(), w.row_bytes, rows, a.bytes.data(), a.row_bytes, n_tok, cols, s.data(),
             rows);
    double err = 0, norm = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      err += (double(y[i]) - s[i]) * (double(y[i]) - s[i]);
      norm += double(s[i]) * s[i];
    }
    EXPECT_LT(err / norm, 1e-12) << "cols " << cols;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, Kernels, ::testing::ValuesIn(all_cases()), case_name);

// The start-up check of the tile instructions answers, and never takes the process down: on a
// CPU with AMX whose kernel granted the tile state it passes (the AMX path is then available);
// anywhere else the instructions fault, and the guard turns that into a reason.
TEST(TileKernels, StartUpCheckAnswersWithoutCrashing) {
#if defined(__x86_64__)
  const AmxStatus& amx = amx_status();
  std::string why;
  const bool ok = cpu::amx_tiles_self_test(&why);
  if (amx.usable) {
    EXPECT_TRUE(ok) << why;
    EXPECT_TRUE(cpu_path_supported(CpuPath::kAmx));
  } else if (!cpu_features().amx_tile) {
    EXPECT_FALSE(ok);
    EXPECT_NE(why.find("faulted"), std::string::npos) << why;
    EXPECT_FALSE(cpu_path_supported(CpuPath::kAmx));
  }
  // The check itself, with the emulation standing for the instructions, passes: what a CPU
  // that computes as documented gives.
  std::string emulated_why;
  EXPECT_TRUE(cpu::emulated_tiles_self_test(&emulated_why)) << emulated_why;
  // Tiles that compute one sum wrongly are refused, with the reason.
  cpu::inject_tile_emulation_error(true);
  std::string wrong_why;
  const bool wrong_ok = cpu::emulated_tiles_self_test(&wrong_why);
  cpu::inject_tile_emulation_error(false);
  EXPECT_FALSE(wrong_ok);
  EXPECT_NE(wrong_why.find("differed from their documented arithmetic"), std::string::npos)
      << wrong_why;
  // The process still runs kernels after the probe.
  const cpu::TypeKernels& k = cpu::type_kernels(DType::kQ4_0, best_cpu_path());
  EXPECT_NE(k.gemm, nullptr);
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

// The AMX path's kernels (whole groups of 16 tokens on tiles) run here on the tiles' documented
// arithmetic in C++ (tiles_amx.inc's EmulatedTiles): every output must carry the bits of the
// AVX-512 path's VNNI panels, which the tests above hold to the double-precision reference and
// to token-by-token decode. On a machine with AMX the Kernels suite runs the instructions too.
TEST(TileKernels, EmulatedTilesGiveTheVnniPanelsBits) {
  if (!cpu_path_supported(CpuPath::kAvx512)) GTEST_SKIP() << "this CPU cannot run the avx512 path";
  for (DType type : kWeightTypes) {
    const cpu::TypeKernels& tiles = cpu::tile_emulation_kernels(type);
    const cpu::TypeKernels& vnni = cpu::type_kernels(type, CpuPath::kAvx512);
    ASSERT_EQ(tiles.act, vnni.act);
    const int64_t b = type_traits(type).block_elems;
    // Widths with and without a tail after the last whole group of eight blocks.
    const std::vector<int64_t> widths = b == 1    ? std::vector<int64_t>{40}
                                        : b == 32 ? std::vector<int64_t>{256, 416, 2080}
                                                  : std::vector<int64_t>{256, 2304};
    const int64_t rows = 40;  // two panels and a rest of eight rows
    for (int64_t cols : widths) {
      const Quantized w = quantize(type, random_values(rows * cols, 21 + cols, 0.5f), rows, cols);
      // One group of 16, two and a VNNI rest of 3, and a tile group then 4 + 2.
      for (int64_t n_tok : {16, 35, 22}) {
        const Acts a = activations(tiles.act, uneven_values(n_tok, cols, 3 + n_tok), n_tok, cols);
        std::vector<float> y(n_tok * rows, NAN), z(n_tok * rows, NAN);
        tiles.gemm(w.bytes.data(), w.row_bytes, rows, a.bytes.data(), a.row_bytes, n_tok, cols,
                   y.data(), rows);
        vnni.gemm(w.bytes.data(), w.row_bytes, rows, a.bytes.data(), a.row_bytes, n_tok, cols,
                  z.data(), rows);
        ASSERT_EQ(std::memcmp(y.data(), z.data(), y.size() * sizeof(float)), 0)
            << dtype_name(type) << " cols " << cols << " tokens " << n_tok;
      }
    }
  }
}

// Each activation element is within half a step of its float value, and a sub-block's step
// follows its own magnitude: at most its amax / 127 plus the super-block's base step
// (ActBlock256) or exactly its amax / 127 (ActRow32's per-16 scales), so small sub-blocks
// next to large ones keep their resolution.
TEST(Activations, EachSubBlockKeepsItsOwnResolution) {
  const int64_t cols = 1024;
  const std::vector<float> x = uneven_values(1, cols, 9);
  for (ActFormat f : {ActFormat::kQ8x32, ActFormat::kQ8x256}) {
    const Acts a = activations(f, x, 1, cols);
    const int64_t sub = f == ActFormat::kQ8x32 ? 16 : 32;
    for (int64_t j = 0; j < cols / sub; ++j) {
      double amax = 0, err = 0;
      for (int64_t c = j * sub; c < (j + 1) * sub; ++c) {
        amax = std::max(amax, std::fabs(double(x[c])));
        err = std::max(err, std::fabs(a.deq[c] - x[c]));
      }
      double base = 0;
      if (f == ActFormat::kQ8x256) {
        base = reinterpret_cast<const cpu::ActBlock256*>(a.bytes.data())[j * sub / 256].d;
      }
      const double step = amax / 127 + base;
      EXPECT_LE(err, 0.5 * step * (1 + 1e-6)) << "format " << int(f) << " sub-block " << j;
    }
  }
}

// The public matmul: one thread, two or three (rows handed out in chunks as threads ask), the
// same bits; one token at a time or all together, the same bits for quantized weights.
TEST(Matmul, ThreadCountAndBatchingNeverChangeABit) {
  ThreadPool one(1), two(2), three(3);
  for (DType type : kWeightTypes) {
    const int64_t rows = 150, cols = 512;
    const Quantized w = quantize(type, random_values(rows * cols, 1, 0.5f), rows, cols);
    WeightView view{w.bytes.data(), type, rows, cols, w.row_bytes};
    const int64_t n_tok = 7;
    const std::vector<float> x = random_values(n_tok * cols, 2, 1.0f);
    std::vector<float> a(n_tok * rows), b(n_tok * rows), c(n_tok * rows), d(n_tok * rows);
    matmul(one, view, x.data(), n_tok, a.data());
    matmul(two, view, x.data(), n_tok, b.data());
    matmul(three, view, x.data(), n_tok, d.data());
    for (int64_t t = 0; t < n_tok; ++t)
      matmul(two, view, x.data() + t * cols, 1, c.data() + t * rows);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << dtype_name(type);
    EXPECT_EQ(std::memcmp(a.data(), d.data(), a.size() * 4), 0) << dtype_name(type);
    if (type_traits(type).block_elems > 1) {
      EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size() * 4), 0) << dtype_name(type);
    }
  }
}

// Attention over an F16 cache on every path this CPU runs: scores within rounding of a
// double-precision dot product, each row's score the same bits whether it is scored with
// fifteen others or alone; the mix the bits of axpy_f16 row by row from zero. Head sizes with
// the vector forms (64, 128) and one without (40); rows in a cache wider than one head.
TEST(AttentionF16, ScoresAndMixOnEveryPath) {
  for (CpuPath path : {CpuPath::kScalar, CpuPath::kAvx2, CpuPath::kAvx512}) {
    if (!cpu_path_supported(path)) continue;
    const cpu::VecKernels& vk = cpu::vec_kernels(path);
    auto scores = [&](const float* q, const char* k, int64_t stride, int64_t n, int64_t dim,
                      float* out) { cpu::attention_scores_f16(vk, q, k, stride, n, dim, out); };
    for (int64_t dim : {64, 128, 40}) {
      const int64_t n = 37, width = 3 * dim, stride = width * 2;  // 16 + 16 + 5 rows
      const std::vector<float> qf = random_values(dim, 5 + dim, 1.0f);
      const std::vector<float> kf = random_values(n * width, 6 + dim, 1.0f);
      const std::vector<float> a = random_values(n, 7 + dim, 0.2f);
      std::vector<uint16_t> kv(n * width);
      for (int64_t i = 0; i < n * width; ++i) kv[i] = f32_to_f16(kf[i]);
      const char* k = reinterpret_cast<const char*>(kv.data()) + dim * 2;  // the second head
      std::vector<float> got(n), alone(1);
      scores(qf.data(), k, stride, n, dim, got.data());
      for (int64_t s = 0; s < n; ++s) {
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < dim; ++i) {
          const double kvd = f16_to_f32(kv[s * width + dim + i]);
          ref += double(qf[i]) * kvd;
          mag += std::fabs(double(qf[i]) * kvd);
        }
        EXPECT_NEAR(got[s], ref, 1e-6 * mag) << cpu_path_name(path) << " dim " << dim;
        scores(qf.data(), k + s * stride, stride, 1, dim, alone.data());
        EXPECT_EQ(std::memcmp(&alone[0], &got[s], 4), 0)
            << cpu_path_name(path) << " dim " << dim << " row " << s;
      }
      std::vector<float> mix(dim, -1.0f), axpy(dim, 0.0f);
      cpu::attention_mix_f16(vk, a.data(), k, stride, n, dim, mix.data());
      for (int64_t s = 0; s < n; ++s)
        vk.axpy_f16(a[s], reinterpret_cast<const uint16_t*>(k + s * stride), axpy.data(), dim);
      EXPECT_EQ(std::memcmp(mix.data(), axpy.data(), dim * 4), 0)
          << cpu_path_name(path) << " dim " << dim;
    }
  }
}

// The vector softmax (the avx512 path's softmax_fast) against one in double precision: every
// element within a few units in the last place plus what rounding x - max to float costs (|x - max|
// units of 2^-24), for lengths around the vector width and spreads that underflow to zero.
TEST(SoftmaxFast, MatchesDoublePrecision) {
  if (!cpu_path_supported(CpuPath::kAvx512)) GTEST_SKIP() << "this CPU cannot run the avx512 path";
  const auto softmax_vec = cpu::vec_kernels(CpuPath::kAvx512).softmax;
  ASSERT_NE(softmax_vec, nullptr);
  for (int64_t n : {1, 5, 16, 17, 37, 1000}) {
    for (float spread : {1.0f, 30.0f, 200.0f}) {
      std::vector<float> x = random_values(n, 40 + n, spread);
      std::vector<double> ref(x.begin(), x.end()), dist(n);
      double m = -INFINITY, sum = 0;
      for (double v : ref) m = std::max(m, v);
      for (int64_t i = 0; i < n; ++i) {
        dist[i] = m - ref[i];
        sum += (ref[i] = std::exp(ref[i] - m));
      }
      softmax_vec(x.data(), n);
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref[i] /= sum;
        total += x[i];
        const double rel = 2e-7 + dist[i] * 0x1p-24;
        EXPECT_NEAR(x[i], ref[i], rel * ref[i] + 1e-44) << "n " << n << " spread " << spread;
      }
      EXPECT_NEAR(total, 1.0, 1e-5);
    }
  }
}

// F32 -> F16 rows (the F16 attention cache's stores) on every path give the scalar codec's
// bits: halfway cases, the overflow edge, subnormals, infinities, NaNs with payloads, and
// lengths around the vector width.
TEST(F16Store, MatchesTheScalarCodecOnEveryPath) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {0.0f,
                          -0.0f,
                          1.0f,
                          1.0f + 0x1p-11f,
                          1.0f + 0x1p-11f + 0x1p-23f,
                          1.0f + 3 * 0x1p-11f,
                          65504.0f,
                          65519.99f,
                          65520.0f,
                          -65520.0f,
                          1e30f,
                          0x1p-14f,
                          0x1p-24f,
                          0x1p-25f,
                          0x1.8p-25f,
                          0x1p-26f,
                          1e-40f,
                          inf,
                          -inf};
  for (uint32_t payload : {0x7fc00000u, 0x7f800001u, 0xffc12345u, 0x7fbfffffu}) {
    float f;
    std::memcpy(&f, &payload, 4);
    x.push_back(f);
  }
  const std::vector<float> wide = random_values(1000, 61, 1.0f);
  for (size_t i = 0; i < wide.size(); ++i) {
    x.push_back(std::ldexp(wide[i], static_cast<int>(i % 50) - 30));  // 2^-30 .. 2^19
  }
  for (CpuPath path : {CpuPath::kScalar, CpuPath::kAvx2, CpuPath::kAvx512, CpuPath::kAmx}) {
    if (!cpu_path_supported(path)) continue;
    const auto conv = cpu::vec_kernels(path).f16_from_f32;
    if (conv == nullptr) continue;  // the scalar codec itself
    for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{23}, x.size()}) {
      for (size_t start = 0; start + n <= x.size(); start += std::max<size_t>(n, 17)) {
        std::vector<uint16_t> got(n, 0xABCD);
        conv(x.data() + start, got.data(), static_cast<int64_t>(n));
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(got[i], f32_to_f16(x[start + i]))
              << cpu_path_name(path) << ": x = " << x[start + i] << " (n " << n << ")";
        }
      }
    }
  }
}

// A NaN score anywhere (an F16 cache entry that overflowed) makes every output NaN, as the
// scalar softmax's sum does, on every path: never a finite row that hides it.
TEST(SoftmaxFast, NanPoisonsTheRowOnEveryPath) {
  for (CpuPath path : {CpuPath::kScalar, CpuPath::kAvx2, CpuPath::kAvx512, CpuPath::kAmx}) {
    if (!cpu_path_supported(path)) continue;
    const auto softmax_vec = cpu::vec_kernels(path).softmax;
    for (int64_t n : {1, 3, 16, 17, 40}) {
      for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
        std::vector<float> x = random_values(n, 50 + n, 3.0f);
        x[at] = std::numeric_limits<float>::quiet_NaN();
        if (softmax_vec != nullptr) {
          softmax_vec(x.data(), n);
        } else {
          softmax(x.data(), n);
        }
        for (int64_t i = 0; i < n; ++i) {
          EXPECT_TRUE(std::isnan(x[i])) << cpu_path_name(path) << " n " << n << " NaN at " << at
                                        << ": x[" << i << "] = " << x[i];
        }
      }
    }
  }
}

// Several matrices of one input in one parallel loop (q, k and v; gate and up): each output
// is the bits its own matmul gives, for mixed types (a Q4_K_M layer mixes Q4_K and Q6_K),
// row counts that do and do not keep the parts on 16-row boundaries, one token and several.
TEST(Matmul, PartsInOneLoopGiveEachMatmulsBits) {
  ThreadPool two(2), three(3), five(5);
  const int64_t cols = 512;
  struct Spec {
    DType type;
    int64_t rows;
  };
  // The first set starts every part on a 16-row boundary (16-row blocks, so panels where a
  // batch has enough tokens); the second starts parts off it (37 rows first), which turns the
  // loop's alignment down to single rows, and uses the limit of four parts.
  const std::vector<std::vector<Spec>> sets = {
      {{DType::kQ4_K, 160}, {DType::kQ6_K, 48}, {DType::kF16, 37}},
      {{DType::kQ4_0, 37}, {DType::kQ4_K, 160}, {DType::kQ6_K, 48}, {DType::kQ8_0, 77}}};
  for (const std::vector<Spec>& specs : sets) {
    const size_t n = specs.size();
    std::vector<Quantized> ws;
    std::vector<WeightView> views;
    for (size_t i = 0; i < n; ++i) {
      ws.push_back(quantize(specs[i].type, random_values(specs[i].rows * cols, 20 + i, 0.5f),
                            specs[i].rows, cols));
    }
    for (size_t i = 0; i < n; ++i)
      views.push_back({ws[i].bytes.data(), specs[i].type, specs[i].rows, cols, ws[i].row_bytes});
    for (int64_t n_tok : {1, 6, 8, 20, 33}) {
      const std::vector<float> x = random_values(n_tok * cols, 30, 1.0f);
      for (ThreadPool* pool : {&two, &three, &five}) {
        std::vector<std::vector<float>> alone(n), together(n);
        std::vector<MatmulPart> parts(n);
        for (size_t i = 0; i < n; ++i) {
          alone[i].assign(n_tok * specs[i].rows, 0.0f);
          together[i].assign(n_tok * specs[i].rows, -1.0f);
          matmul(*pool, views[i], x.data(), n_tok, alone[i].data());
          parts[i] = {&views[i], together[i].data()};
        }
        MatmulInput in(x.data(), n_tok, cols);
        matmul(*pool, parts, in);
        for (size_t i = 0; i < n; ++i) {
          EXPECT_EQ(std::memcmp(alone[i].data(), together[i].data(), alone[i].size() * 4), 0)
              << "part " << i << " of " << n << ", " << n_tok << " tokens, " << pool->n_threads()
              << " threads";
        }
      }
    }
  }
}

}  // namespace
}  // namespace strata
