#include "backend/cpu/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define STRATA_AVX2 1
#endif

#include "backend/cpu/thread_pool.h"

namespace strata {

namespace {

#ifdef STRATA_AVX2
inline float hsum256(__m256 v) {
  // Fixed reduction tree: (lanes 0..3 + 4..7), then pairs.
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  __m128 sums = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, sums);
  sums = _mm_add_ss(sums, sh);
  return _mm_cvtss_f32(sums);
}
#endif

// Each dot_* has the same accumulation structure as dot_f32 on converted values, so a row
// converted first and a row converted on the fly give the same bits.
float dot_f16(const uint16_t* w, const float* x, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef STRATA_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + i))), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + i + 8))), _mm256_loadu_ps(x + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + i + 16))), _mm256_loadu_ps(x + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + i + 24))), _mm256_loadu_ps(x + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + i))), _mm256_loadu_ps(x + i), acc0);
  }
  sum = hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
#endif
  for (; i < n; ++i) sum += f16_to_f32(w[i]) * x[i];
  return sum;
}

float dot_bf16(const uint16_t* w, const float* x, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef STRATA_AVX2
  auto load = [](const uint16_t* p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(load(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(load(w + i + 16), _mm256_loadu_ps(x + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(load(w + i + 24), _mm256_loadu_ps(x + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), acc0);
  sum = hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
#endif
  for (; i < n; ++i) sum += bf16_to_f32(w[i]) * x[i];
  return sum;
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef STRATA_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  sum = hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
#endif
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void row_to_f32(const WeightView& w, int64_t row, float* out) {
  const int64_t n = w.cols;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, static_cast<const float*>(w.data) + row * n, n * sizeof(float));
      break;
    case DType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + row * n;
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
      break;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + row * n;
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
  }
}

namespace {

// The dot products of one weight row with kTok token vectors at once: the row is loaded and
// converted once per block instead of once per token. Per token, the accumulation is exactly
// dot_f32/dot_f16/dot_bf16's (four 8-lane accumulators over 32-element blocks, 8-element
// blocks into the first, the same reduction tree, then the scalar tail), so a batched
// forward pass gives the same bits as a token-by-token one.
#ifdef STRATA_AVX2
template <int kTok, typename Load, typename Scalar>
void dot_rows_multi(const uint16_t* w16, const float* w32, const float* const* xs, int64_t n,
                    float* out, Load load, Scalar scalar) {
  __m256 acc[kTok][4];
  for (int t = 0; t < kTok; ++t)
    for (int j = 0; j < 4; ++j) acc[t][j] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 wv[4];
    for (int j = 0; j < 4; ++j) wv[j] = load(w16, w32, i + 8 * j);
    for (int t = 0; t < kTok; ++t)
      for (int j = 0; j < 4; ++j)
        acc[t][j] = _mm256_fmadd_ps(wv[j], _mm256_loadu_ps(xs[t] + i + 8 * j), acc[t][j]);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 wv = load(w16, w32, i);
    for (int t = 0; t < kTok; ++t) acc[t][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xs[t] + i), acc[t][0]);
  }
  for (int t = 0; t < kTok; ++t) {
    float sum = hsum256(_mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
    for (int64_t k = i; k < n; ++k) sum += scalar(w16, w32, k) * xs[t][k];
    out[t] = sum;
  }
}

template <int kTok>
void dot_multi(const WeightView& w, int64_t r, const float* const* xs, float* out) {
  const int64_t n = w.cols;
  switch (w.dtype) {
    case DType::kF32:
      dot_rows_multi<kTok>(
          nullptr, static_cast<const float*>(w.data) + r * n, xs, n, out,
          [](const uint16_t*, const float* p, int64_t i) { return _mm256_loadu_ps(p + i); },
          [](const uint16_t*, const float* p, int64_t i) { return p[i]; });
      break;
    case DType::kF16:
      dot_rows_multi<kTok>(
          static_cast<const uint16_t*>(w.data) + r * n, nullptr, xs, n, out,
          [](const uint16_t* p, const float*, int64_t i) {
            return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(p + i)));
          },
          [](const uint16_t* p, const float*, int64_t i) { return f16_to_f32(p[i]); });
      break;
    case DType::kBF16:
      dot_rows_multi<kTok>(
          static_cast<const uint16_t*>(w.data) + r * n, nullptr, xs, n, out,
          [](const uint16_t* p, const float*, int64_t i) {
            __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(p + i)));
            return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
          },
          [](const uint16_t* p, const float*, int64_t i) { return bf16_to_f32(p[i]); });
      break;
  }
}
#endif

float dot_row(const WeightView& w, int64_t r, const float* x) {
  const int64_t cols = w.cols;
  switch (w.dtype) {
    case DType::kF32: return dot_f32(static_cast<const float*>(w.data) + r * cols, x, cols);
    case DType::kF16: return dot_f16(static_cast<const uint16_t*>(w.data) + r * cols, x, cols);
    case DType::kBF16: return dot_bf16(static_cast<const uint16_t*>(w.data) + r * cols, x, cols);
  }
  return 0;
}

}  // namespace

void matmul(ThreadPool& pool, const WeightView& w, const float* x, int64_t n_tok, float* y) {
  const int64_t rows = w.rows, cols = w.cols;
  // Rows in blocks of about 128 KiB of weights, which stay in L2 while every token passes
  // over them; tokens in groups of 4 inside a block, so each row is converted once per group
  // and a group's vectors stay in cache across the block's rows. Without the row blocks a
  // long prompt's token vectors (121 tokens x 32 KiB for the FFN down projection) would be
  // re-read from L3 for every row. Per output element the summation order is dot_row's, so
  // any batch gives the same bits as token by token.
  const int64_t row_bytes = cols * static_cast<int64_t>(dtype_size(w.dtype));
  const int64_t block = std::clamp<int64_t>((128 << 10) / std::max<int64_t>(row_bytes, 1), 1, 256);
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t rb = r0; rb < r1; rb += block) {
      const int64_t re = std::min(rb + block, r1);
      int64_t t = 0;
#ifdef STRATA_AVX2
      constexpr int kTok = 4;
      for (; t + kTok <= n_tok; t += kTok) {
        const float* xs[kTok];
        for (int k = 0; k < kTok; ++k) xs[k] = x + (t + k) * cols;
        for (int64_t r = rb; r < re; ++r) {
          float out[kTok];
          dot_multi<kTok>(w, r, xs, out);
          for (int k = 0; k < kTok; ++k) y[(t + k) * rows + r] = out[k];
        }
      }
#endif
      for (; t < n_tok; ++t) {
        for (int64_t r = rb; r < re; ++r) y[t * rows + r] = dot_row(w, r, x + t * cols);
      }
    }
  });
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

void softmax(float* x, int64_t n) {
  float max_val = x[0];
  for (int64_t i = 1; i < n; ++i) max_val = x[i] > max_val ? x[i] : max_val;
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_val);
    sum += x[i];
  }
  for (int64_t i = 0; i < n; ++i) x[i] /= sum;
}

}  // namespace strata
