#pragma once
// CPU reference kernels. Every kernel's result depends only on its inputs (never on the
// thread count or where the weights came from): rows are split across threads, but each
// output element is computed by one thread in a fixed order. That makes logits bit-identical
// whatever the placement.

#include <cstdint>

#include "core/dtype.h"

namespace strata {

class ThreadPool;

// A weight matrix (or vector when rows == 1) in memory, in its stored dtype.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;  // n_out
  int64_t cols = 0;  // n_in
  bool empty() const { return data == nullptr; }
};

// Converts row `row` of `w` to float.
void row_to_f32(const WeightView& w, int64_t row, float* out);

// Dot product of `n` floats; fixed summation order (8-lane blocks, then a tail).
float dot_f32(const float* a, const float* b, int64_t n);

// y[t, r] = sum_c w[r, c] * x[t, c] for t < n_tok. x: [n_tok, w.cols], y: [n_tok, w.rows].
void matmul(ThreadPool& pool, const WeightView& w, const float* x, int64_t n_tok, float* y);

// out = x / rms(x) * weight, over n floats.
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);

// In place softmax of n floats.
void softmax(float* x, int64_t n);

}  // namespace strata
