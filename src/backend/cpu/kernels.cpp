#include "backend/cpu/kernels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "backend/cpu/cpu_types.h"
#include "backend/cpu/thread_pool.h"
#include "core/check.h"

namespace strata {

namespace cpu {

namespace {

// One table per CpuPath, in its order.
struct Tables {
  std::array<std::array<TypeKernels, kTypeSlots>, 4> types;
  std::array<VecKernels, 4> vec;
};

Tables build_tables() {
  Tables t;
  register_scalar_kernels(t.types[0].data(), &t.vec[0]);
  register_avx2_kernels(t.types[1].data(), &t.vec[1]);
  register_avx512_kernels(t.types[2].data(), &t.vec[2]);
  register_amx_kernels(t.types[3].data(), &t.vec[3]);
  return t;
}

const Tables& tables() {
  static const Tables t = build_tables();
  return t;
}

// Quantizes `block` floats (a multiple of 4) to int8 with one scale; rounds to nearest, ties
// to even (SSE2's conversion in the default rounding mode, the same on every x86-64 CPU).
// q[i] = nearest integer to x[i] * id, saturated to int8.
inline void quantize_scaled(const float* x, int block, float id, int8_t* q) {
#if defined(__SSE2__)
  const __m128 idv = _mm_set1_ps(id);
  for (int i = 0; i < block; i += 4) {
    const __m128i v = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(x + i), idv));
    const __m128i p = _mm_packs_epi16(_mm_packs_epi32(v, v), _mm_setzero_si128());
    const int32_t four = _mm_cvtsi128_si32(p);
    std::memcpy(q + i, &four, 4);
  }
#else
  for (int i = 0; i < block; ++i)
    q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * id), -128.0f, 127.0f));
#endif
}

inline float abs_max(const float* x, int n) {
  float amax = 0;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

inline float quantize_block(const float* x, int block, int8_t* q) {
  const float amax = abs_max(x, block);
  quantize_scaled(x, block, amax > 0 ? 127 / amax : 0.0f, q);
  return amax / 127;
}

void quantize_block256(const float* x, ActBlock256* b) {
  float amax[8];
  for (int j = 0; j < 8; ++j) amax[j] = abs_max(x + 32 * j, 32);
  const float top = *std::max_element(amax, amax + 8);
  b->d = top / (127 * kActMaxMultiplier);
  for (int j = 0; j < 8; ++j) {
    int m = kActMaxMultiplier;
    if (top > 0) {
      m = static_cast<int>(std::ceil(amax[j] / (127 * b->d)));
      m = std::clamp(m, 1, kActMaxMultiplier);
    }
    b->m[j] = static_cast<int16_t>(m);
    quantize_scaled(x + 32 * j, 32, top > 0 ? 1.0f / (b->d * static_cast<float>(m)) : 0.0f,
                    b->qs + 32 * j);
  }
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += b->qs[16 * g + j];
    b->bsums[g] = static_cast<int16_t>(b->m[g / 2] * s);
  }
}

}  // namespace

const TypeKernels& type_kernels(DType t, CpuPath p) {
  return tables().types[static_cast<int>(p)][static_cast<int>(t)];
}

const VecKernels& vec_kernels(CpuPath p) { return tables().vec[static_cast<int>(p)]; }

const TypeKernels& tile_emulation_kernels(DType t) {
  static const std::array<TypeKernels, kTypeSlots> table = [] {
    std::array<TypeKernels, kTypeSlots> k;
    VecKernels v;
    register_tile_emulation_kernels(k.data(), &v);
    return k;
  }();
  return table[static_cast<int>(t)];
}

int64_t act_row_bytes(ActFormat f, int64_t n) {
  switch (f) {
    case ActFormat::kF32:
      return n * 4;
    case ActFormat::kQ8x32:
      return n / 16 * 12 + n;
    case ActFormat::kQ8x256:
      return n / 256 * static_cast<int64_t>(sizeof(ActBlock256));
  }
  return 0;
}

void quantize_act_row(ActFormat f, const float* x, int64_t n, char* out) {
  switch (f) {
    case ActFormat::kF32:
      std::memcpy(out, x, n * 4);
      break;
    case ActFormat::kQ8x32: {
      const int64_t nh = n / 16;
      float* d = reinterpret_cast<float*>(out);
      int32_t* sums = reinterpret_cast<int32_t*>(d + 2 * nh);
      int8_t* qs = reinterpret_cast<int8_t*>(sums + nh);
      for (int64_t i = 0; i < nh; ++i) {
        const int64_t at = act_half_index(i / 2, static_cast<int>(i % 2), n / 32);
        d[at] = quantize_block(x + 16 * i, 16, qs + 16 * i);
        int32_t s = 0;
        for (int j = 0; j < 16; ++j) s += qs[16 * i + j];
        sums[at] = s;
        d[nh + at] = d[at] * static_cast<float>(s);
      }
      break;
    }
    case ActFormat::kQ8x256: {
      auto* b = reinterpret_cast<ActBlock256*>(out);
      for (int64_t i = 0; i < n / 256; ++i) quantize_block256(x + 256 * i, b + i);
      break;
    }
  }
}

void attention_scores_f16(const VecKernels& v, const float* q, const char* k, int64_t stride,
                          int64_t n, int64_t dim, float* out) {
  if (v.scores_f16 != nullptr && v.scores_f16(q, k, stride, n, dim, out)) return;
  for (int64_t s = 0; s < n; ++s)
    out[s] = v.dot_f32_f16(q, reinterpret_cast<const uint16_t*>(k + s * stride), dim);
}

void attention_mix_f16(const VecKernels& v, const float* a, const char* rows, int64_t stride,
                       int64_t n, int64_t dim, float* out) {
  if (v.mix_f16 != nullptr && v.mix_f16(a, rows, stride, n, dim, out)) return;
  std::memset(out, 0, static_cast<size_t>(dim) * sizeof(float));
  for (int64_t s = 0; s < n; ++s)
    v.axpy_f16(a[s], reinterpret_cast<const uint16_t*>(rows + s * stride), out, dim);
}

}  // namespace cpu

namespace {
const cpu::VecKernels& vec() {
  static const cpu::VecKernels& v = cpu::vec_kernels(active_cpu_path());
  return v;
}
}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) { return vec().dot_f32(a, b, n); }

void axpy_f32(float a, const float* x, float* y, int64_t n) { vec().axpy_f32(a, x, y, n); }
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n) {
  return vec().dot_f32_f16(a, b, n);
}
void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) { vec().axpy_f16(a, x, y, n); }

void attention_scores_f16(const float* q, const char* k, int64_t stride, int64_t n, int64_t dim,
                          float* out) {
  cpu::attention_scores_f16(vec(), q, k, stride, n, dim, out);
}

void attention_mix_f16(const float* a, const char* v, int64_t stride, int64_t n, int64_t dim,
                       float* out) {
  cpu::attention_mix_f16(vec(), a, v, stride, n, dim, out);
}

void f16_from_f32(const float* x, uint16_t* h, int64_t n) {
  if (vec().f16_from_f32 != nullptr) {
    vec().f16_from_f32(x, h, n);
  } else {
    type_traits(DType::kF16).from_float(x, h, n);
  }
}

void row_to_f32(const WeightView& w, int64_t row, float* out) {
  type_traits(w.dtype).to_float(w.row(row), out, w.cols);
}

const char* MatmulInput::rows(ThreadPool& pool, int format, int64_t* row_bytes) {
  const auto f = static_cast<cpu::ActFormat>(format);
  *row_bytes = cpu::act_row_bytes(f, cols_);
  if (f == cpu::ActFormat::kF32) return reinterpret_cast<const char*>(x_);
  std::vector<char>& buf = quantized_[format];
  if (!ready_[format]) {
    buf.resize(static_cast<size_t>(*row_bytes * n_tok_));
    const int64_t rb = *row_bytes;
    auto quantize = [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        cpu::quantize_act_row(f, x_ + t * cols_, cols_, buf.data() + t * rb);
    };
    if (n_tok_ > 1) {
      pool.parallel_for(n_tok_, quantize);
    } else {
      quantize(0, n_tok_);
    }
    ready_[format] = true;
  }
  return buf.data();
}

void matmul(ThreadPool& pool, const WeightView& w, const float* x, int64_t n_tok, float* y) {
  MatmulInput in(x, n_tok, w.cols);
  matmul(pool, w, in, y);
}

void matmul(ThreadPool& pool, const WeightView& w, MatmulInput& in, float* y) {
  const MatmulPart part{&w, y};
  matmul(pool, std::span<const MatmulPart>(&part, 1), in);
}

void matmul(ThreadPool& pool, std::span<const MatmulPart> parts, MatmulInput& in) {
  // Per part: its kernel, its activations (made before the loop: quantizing uses the pool),
  // its first row in the loop's row space and its row block.
  struct Job {
    const cpu::TypeKernels* k;
    const char* act;
    int64_t act_bytes, first, block;
  };
  constexpr size_t kMaxParts = 4;
  STRATA_CHECK(!parts.empty() && parts.size() <= kMaxParts, "matmul of {} parts", parts.size());
  Job jobs[kMaxParts];
  int64_t total = 0, align = 16;
  for (size_t i = 0; i < parts.size(); ++i) {
    const WeightView& w = *parts[i].w;
    const cpu::TypeKernels& k = cpu::type_kernels(w.dtype, active_cpu_path());
    STRATA_CHECK(k.gemm != nullptr, "no CPU kernel for {} weights", dtype_name(w.dtype));
    STRATA_CHECK(in.cols() == w.cols, "matmul input has {} columns, weights {}", in.cols(), w.cols);
    Job& j = jobs[i];
    j.k = &k;
    // Activations in the kernel's format (float weights read x as it is).
    j.act = in.rows(pool, static_cast<int>(k.act), &j.act_bytes);
    // Rows in blocks of about 128 KiB of weights, which stay in L2 while every token group
    // passes over them; without them a long prompt's activations would be re-read from L3
    // for every row. The kernel walks tokens in groups of 4 inside a block.
    // Whole multiples of 16 rows where there are 8 or more (the nearest, at least 16): the
    // quantized types' batch kernels pack 16-row panels (panel_q32.inc, panel_totals.inc,
    // panel_sb16.inc) and leave the rest to a slower per-row kernel.
    int64_t block = std::clamp<int64_t>((128 << 10) / std::max<int64_t>(w.row_bytes, 1), 1, 256);
    if (block >= 8) block = std::max<int64_t>(16, (block + 8) / 16 * 16);
    j.block = block;
    j.first = total;
    total += w.rows;
    // Chunks start on multiples of 16 rows where every part's blocks do and every part
    // starts on one.
    if (block < 16 || j.first % 16 != 0) align = 1;
  }
  const int64_t n_tok = in.n_tok(), cols = in.cols();
  // Rows handed out in shrinking chunks as threads ask (a row's result does not depend on
  // the chunk it is in): a thread the VM or an interrupt slows down no longer holds the
  // others at the end of every matmul.
  pool.parallel_for_dynamic(total, align, align, [&](int64_t r0, int64_t r1) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const Job& j = jobs[i];
      const WeightView& w = *parts[i].w;
      const int64_t lo = std::max(r0, j.first) - j.first;
      const int64_t hi = std::min(r1, j.first + w.rows) - j.first;
      const char* wbase = static_cast<const char*>(w.data);
      for (int64_t rb = lo; rb < hi; rb += j.block) {
        const int64_t re = std::min(rb + j.block, hi);
        j.k->gemm(wbase + rb * w.row_bytes, w.row_bytes, re - rb, j.act, j.act_bytes, n_tok, cols,
                  parts[i].y + rb, w.rows);
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

void softmax_fast(float* x, int64_t n) {
  const cpu::VecKernels& v = vec();
  if (v.softmax != nullptr) {
    v.softmax(x, n);
  } else {
    softmax(x, n);
  }
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
