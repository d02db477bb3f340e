#pragma once
// Internal: the scale searches the reference quantizers share. Each returns the parameters
// minimizing the squared error of a block over a small, fixed set of candidates (each
// refined by a least-squares fit given its levels), so quantizing is deterministic and
// never worse than the plain max-based scale, which is always among the candidates.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/quant/blocks.h"

namespace strata::quant {

// Rounds half away from zero (as ggml's converters do, so near-ties agree with llama.cpp),
// inline: it runs once per element per candidate scale. |v| is clamped first so the
// conversion is always defined (levels are then clamped to the grid by the callers).
inline int round_level(float v) {
  v = std::clamp(v, -1e6f, 1e6f);
  return static_cast<int>(v + (v >= 0 ? 0.5f : -0.5f));
}

// The element of largest magnitude, with its sign (the first of equals); 0 for an all-zero block.
inline float signed_extreme(const float* x, int n) {
  float amax = 0, extreme = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      extreme = x[i];
    }
  }
  return extreme;
}

// x ~ d * q, q integer in [qmin, qmax] (qmin < 0 < qmax). Returns d (0 for an all-zero block).
inline float fit_symmetric(const float* x, int n, int qmin, int qmax) {
  const float extreme = signed_extreme(x, n);
  if (extreme == 0) return 0;
  float best_d = 0, best_err = INFINITY;
  auto consider = [&](float d) {
    if (!(d != 0) || !std::isfinite(d)) return;
    const float id = 1.0f / d;
    double sxq = 0, sqq = 0;
    for (int i = 0; i < n; ++i) {
      const int q = std::clamp(round_level(x[i] * id), qmin, qmax);
      sxq += static_cast<double>(x[i]) * q;
      sqq += static_cast<double>(q) * q;
    }
    // The least-squares scale for these levels, then the error it gives (re-levelled).
    for (float cand : {d, sqq > 0 ? static_cast<float>(sxq / sqq) : d}) {
      if (!(cand != 0) || !std::isfinite(cand)) continue;
      const float ic = 1.0f / cand;
      double err = 0;
      for (int i = 0; i < n; ++i) {
        const int q = std::clamp(round_level(x[i] * ic), qmin, qmax);
        const double e = x[i] - static_cast<double>(cand) * q;
        err += e * e;
      }
      if (err < best_err) {
        best_err = static_cast<float>(err);
        best_d = cand;
      }
    }
  };
  // The extreme on the wider, negative end of the grid (ggml's max-based scale, negative when
  // the extreme is positive), a little inside it, and on the positive end.
  for (int k = 0; k <= 8; k += 2) consider(extreme / (qmin + 0.125f * k));
  for (int k = 0; k <= 2; ++k) consider(extreme / (qmax - 0.25f * k));
  return best_d;
}

// x ~ a * q + b, q integer in [0, qmax], a >= 0. With `min_at_most_zero` (the K quants,
// whose offset is -dmin * m with m >= 0) b is clamped to <= 0. Returns a and b.
inline void fit_affine(const float* x, int n, int qmax, bool min_at_most_zero, float* a_out,
                       float* b_out) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (min_at_most_zero) lo = std::min(lo, 0.0f);
  if (hi == lo) {
    *a_out = 0;
    *b_out = lo;
    return;
  }
  float best_a = (hi - lo) / qmax, best_b = lo, best_err = INFINITY;
  auto error_of = [&](float a, float b) {
    if (!(a > 0) || !std::isfinite(a) || !std::isfinite(b)) return INFINITY;
    const float ia = 1.0f / a;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const int q = std::clamp(round_level((x[i] - b) * ia), 0, qmax);
      const double e = x[i] - (static_cast<double>(a) * q + b);
      err += e * e;
    }
    return static_cast<float>(err);
  };
  for (int k = -2; k <= 4; k += 2) {
    const float a = (hi - lo) / (qmax + 0.25f * k);
    if (!(a > 0)) continue;
    const float ia = 1.0f / a;
    // Levels for this scale, then the least-squares (a, b) for those levels.
    double s1 = 0, sq = 0, sqq = 0, sx = 0, sxq = 0;
    for (int i = 0; i < n; ++i) {
      const int q = std::clamp(round_level((x[i] - lo) * ia), 0, qmax);
      s1 += 1;
      sq += q;
      sqq += static_cast<double>(q) * q;
      sx += x[i];
      sxq += static_cast<double>(x[i]) * q;
    }
    float la = a, lb = lo;
    const double det = s1 * sqq - sq * sq;
    if (det > 0) {
      la = static_cast<float>((s1 * sxq - sq * sx) / det);
      lb = static_cast<float>((sqq * sx - sq * sxq) / det);
      if (min_at_most_zero && lb > 0) {  // refit the scale alone with b = 0
        lb = 0;
        la = sqq > 0 ? static_cast<float>(sxq / sqq) : a;
      }
    }
    for (auto [ca, cb] : {std::pair{a, lo}, std::pair{la, lb}}) {
      const float err = error_of(ca, cb);
      if (err < best_err) {
        best_err = err;
        best_a = ca;
        best_b = cb;
      }
    }
  }
  *a_out = best_a;
  *b_out = best_b;
}

// The index of the level of `values` (sorted, 16 integer entries in [-128, 127]) nearest to
// v; a tie goes to the larger level. Midpoints of integer levels are multiples of 1/2, so the
// answer is constant on each half-unit interval: one table lookup per call.
struct Nearest16 {
  explicit Nearest16(const int8_t* values) {
    for (int k = 0; k < 512; ++k) {
      const float v = (k - 256) * 0.5f;  // the interval [v, v + 0.5)
      int best = 0;
      for (int i = 1; i < 16; ++i) {
        if (v - values[best] >= values[i] - v) best = i;  // ties and beyond go up
      }
      table[k] = static_cast<uint8_t>(best);
    }
  }
  int operator()(float v) const {
    const int k = static_cast<int>(std::floor(std::clamp(v, -128.0f, 127.5f) * 2)) + 256;
    return table[std::min(k, 511)];
  }
  uint8_t table[512];
};

// The index of the IQ4_NL/IQ4_XS level nearest to v.
inline int nearest_iq4(float v) {
  static const Nearest16 iq4(kIq4nlValues);
  return iq4(v);
}

// x ~ d * kIq4nlValues[q] over the non-linear 16-level grid. Returns d.
inline float fit_iq4(const float* x, int n) {
  const int8_t* values = kIq4nlValues;
  const float extreme = signed_extreme(x, n);
  if (extreme == 0) return 0;
  float best_d = 0, best_err = INFINITY;
  auto consider = [&](float d) {
    if (!(d != 0) || !std::isfinite(d)) return;
    const float id = 1.0f / d;
    double sxv = 0, svv = 0;
    for (int i = 0; i < n; ++i) {
      const float v = values[nearest_iq4(x[i] * id)];
      sxv += static_cast<double>(x[i]) * v;
      svv += static_cast<double>(v) * v;
    }
    for (float cand : {d, svv > 0 ? static_cast<float>(sxv / svv) : d}) {
      if (!(cand != 0) || !std::isfinite(cand)) continue;
      const float ic = 1.0f / cand;
      double err = 0;
      for (int i = 0; i < n; ++i) {
        const double e = x[i] - static_cast<double>(cand) * values[nearest_iq4(x[i] * ic)];
        err += e * e;
      }
      if (err < best_err) {
        best_err = static_cast<float>(err);
        best_d = cand;
      }
    }
  };
  // The extreme at either end of the grid, then scales a little larger and smaller.
  for (int k = -6; k <= 6; k += 3) {
    consider(extreme / (values[0] + k));
    consider(extreme / (values[15] + k));
  }
  return best_d;
}

}  // namespace strata::quant
