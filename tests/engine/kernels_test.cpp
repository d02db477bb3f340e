// The CPU matmul: a batch of tokens gives the same bits as the tokens one at a time (the
// batched kernel shares each row's conversion across four tokens but keeps every token's
// summation order), for every weight dtype, thread count and awkward width; and both agree
// with a double-precision reference, so they cannot be equally wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/thread_pool.h"
#include "core/dtype.h"

namespace strata {
namespace {

struct Matrix {
  std::vector<float> f32;      // the weights as float (what the stored dtype rounds to)
  std::vector<uint16_t> half;  // F16/BF16 storage
  WeightView view;
};

Matrix random_matrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  Matrix m;
  m.f32.resize(rows * cols);
  for (float& v : m.f32) v = normal(rng);
  if (dtype != DType::kF32) {
    m.half.resize(m.f32.size());
    for (size_t i = 0; i < m.f32.size(); ++i) {
      m.half[i] = dtype == DType::kF16 ? f32_to_f16(m.f32[i]) : f32_to_bf16(m.f32[i]);
      m.f32[i] = dtype == DType::kF16 ? f16_to_f32(m.half[i]) : bf16_to_f32(m.half[i]);
    }
  }
  m.view = {dtype == DType::kF32 ? static_cast<const void*>(m.f32.data()) : m.half.data(), dtype,
            rows, cols};
  return m;
}

class MatmulBatch : public ::testing::TestWithParam<std::tuple<DType, int64_t, int>> {};

TEST_P(MatmulBatch, BatchedEqualsTokenByTokenBitForBit) {
  const auto [dtype, cols, threads] = GetParam();
  const int64_t rows = 37;
  ThreadPool pool(threads);
  const Matrix m = random_matrix(dtype, rows, cols, 1234 + static_cast<uint32_t>(cols));
  for (int64_t n_tok : {1, 3, 4, 5, 8, 9}) {
    std::mt19937 rng(static_cast<uint32_t>(n_tok));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(n_tok * cols);
    for (float& v : x) v = normal(rng);
    std::vector<float> batched(n_tok * rows), single(n_tok * rows);
    matmul(pool, m.view, x.data(), n_tok, batched.data());
    for (int64_t t = 0; t < n_tok; ++t) {
      matmul(pool, m.view, x.data() + t * cols, 1, single.data() + t * rows);
    }
    ASSERT_EQ(std::memcmp(batched.data(), single.data(), batched.size() * sizeof(float)), 0)
        << dtype_name(dtype) << " cols " << cols << " tokens " << n_tok;
    for (int64_t t = 0; t < n_tok; ++t) {
      for (int64_t r = 0; r < rows; ++r) {
        double ref = 0, mag = 0;
        for (int64_t c = 0; c < cols; ++c) {
          ref += double(m.f32[r * cols + c]) * x[t * cols + c];
          mag += std::fabs(double(m.f32[r * cols + c]) * x[t * cols + c]);
        }
        ASSERT_NEAR(batched[t * rows + r], ref, 1e-5 * mag + 1e-6)
            << dtype_name(dtype) << " row " << r << " token " << t;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Widths, MatmulBatch,
    ::testing::Combine(::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                       ::testing::Values(int64_t{7}, int64_t{13}, int64_t{40}, int64_t{72},
                                         int64_t{2048}),
                       ::testing::Values(1, 2)));

}  // namespace
}  // namespace strata
