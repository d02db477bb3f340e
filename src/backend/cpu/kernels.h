#pragma once
// CPU kernels. Every kernel's result depends only on its inputs (never on the thread count or
// where the weights came from): rows are split across threads, but each output element is
// computed by one thread in a fixed order. That makes logits bit-identical whatever the
// placement. For quantized weights a batch of tokens also gives the same bits as token by
// token; float weights (F32/F16/BF16) sum a lone token's dot products in four chains (decode
// speed) and a batch's in one, so those agree to rounding only. The SIMD path is chosen
// at run time (cpu_features.h); all paths compute the same function within rounding.

#include <cstdint>
#include <span>
#include <vector>

#include "core/dtype.h"

namespace strata {

class ThreadPool;

// A weight matrix (or a vector when rows == 1) in memory, in its stored type: rows of `cols`
// elements, `row_bytes` apart (core/dtype.h's row_bytes(dtype, cols) for a dense tensor).
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;       // n_out
  int64_t cols = 0;       // n_in
  int64_t row_bytes = 0;  // bytes from one row to the next
  bool empty() const { return data == nullptr; }
  const char* row(int64_t r) const { return static_cast<const char*>(data) + r * row_bytes; }
};

// Converts row `row` of `w` to float (exact: the type table's dequantization).
void row_to_f32(const WeightView& w, int64_t row, float* out);

// Dot product of `n` floats.
float dot_f32(const float* a, const float* b, int64_t n);
// y[i] += a * x[i] for i < n.
void axpy_f32(float a, const float* x, float* y, int64_t n);
// The same with the second vector F16 (an F16 attention cache); F16C on x86.
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n);
void axpy_f16(float a, const uint16_t* x, float* y, int64_t n);
// Attention over n rows of `dim` F16 values, row s at k + s * stride bytes (a head's slice
// of a cache): out[s] = q . k_s for s < n; and out = sum_s a[s] * v_s (dim floats, summed in
// row order from zero, each element's steps those of axpy_f16).
void attention_scores_f16(const float* q, const char* k, int64_t stride, int64_t n, int64_t dim,
                          float* out);
void attention_mix_f16(const float* a, const char* v, int64_t stride, int64_t n, int64_t dim,
                       float* out);

// The input of one or more matmuls: x [n_tok, cols] and, made on first use and kept, its
// quantized forms (cpu_types.h), so q, k and v (or gate and up) quantize their shared input
// once. The floats must not change while it is in use. Not thread-safe.
class MatmulInput {
 public:
  MatmulInput(const float* x, int64_t n_tok, int64_t cols) : x_(x), n_tok_(n_tok), cols_(cols) {}
  const float* x() const { return x_; }
  int64_t n_tok() const { return n_tok_; }
  int64_t cols() const { return cols_; }
  // The rows in activation format `format` (a cpu::ActFormat), quantized on the pool the
  // first time they are asked for.
  const char* rows(ThreadPool& pool, int format, int64_t* row_bytes);

 private:
  const float* x_;
  int64_t n_tok_, cols_;
  std::vector<char> quantized_[3];
  bool ready_[3] = {};
};

// y[t, r] = sum_c w[r, c] * x[t, c] for t < n_tok. x: [n_tok, w.cols], y: [n_tok, w.rows].
// Quantized weights meet activations quantized to 8 bits per block (cpu_types.h).
void matmul(ThreadPool& pool, const WeightView& w, MatmulInput& x, float* y);
void matmul(ThreadPool& pool, const WeightView& w, const float* x, int64_t n_tok, float* y);

// Several matmuls of one input (q, k and v; gate and up) in one parallel loop over all their
// rows: one hand-out of work and one wait instead of one per matrix, and longer runs of rows
// per thread. Each y gets the bits matmul() gives it.
struct MatmulPart {
  const WeightView* w;
  float* y;
};
void matmul(ThreadPool& pool, std::span<const MatmulPart> parts, MatmulInput& x);

// F32 -> F16 (round to nearest even) on the active path: the bits of dtype.h's f32_to_f16.
void f16_from_f32(const float* x, uint16_t* h, int64_t n);

// out = x / rms(x) * weight, over n floats.
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);

// In place softmax of n floats (expf per element, as llama2.c's run.c computes it).
void softmax(float* x, int64_t n);
// The same with a vector exp on paths that have one (within a few units in the last place of
// softmax; for the attention of F16 and Q8_0 caches, where no reference asks for run.c's bits).
void softmax_fast(float* x, int64_t n);

}  // namespace strata
