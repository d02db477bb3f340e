// Cross-check of strata's codecs against ggml's (the library, as a black box): dequantize the
// same bytes both ways (strata's and ggml's quantizers' output), and quantize the same floats
// both ways and compare the errors. Not built by strata; against a llama.cpp build outside the
// repository:
//
//   g++ -O2 -std=c++20 -I src -I LLAMA/ggml/include scripts/ggml_quant_xcheck.cpp \
//       build/release/libstrata_core.a -lfmt -lzstd -L LLAMA/build/bin -lggml-base \
//       -Wl,-rpath,LLAMA/build/bin -o /tmp/xcheck && /tmp/xcheck
//
// tests/format/quant_codec_test.cpp keeps ggml's errors on this data as its bounds.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include "ggml.h"
#include "core/dtype.h"
using namespace strata;
int main() {
  DType types[] = {DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                   DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS};
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0, 1);
  const int64_t n = 256 * 64;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = nd(rng) * (i % 61 == 0 ? 6.f : 1.f);
  int fails = 0;
  for (DType t : types) {
    const TypeTraits& tr = type_traits(t);
    const ggml_type gt = static_cast<ggml_type>(static_cast<uint32_t>(t));
    const auto* gtr = ggml_get_type_traits(gt);
    if ((int64_t)gtr->blck_size != tr.block_elems || (int64_t)gtr->type_size != tr.block_bytes) {
      printf("%s: geometry differs (ggml %ld x %zu)\n", std::string(tr.name).c_str(), (long)gtr->blck_size, gtr->type_size); ++fails; continue;
    }
    std::vector<char> qs(row_bytes(t, n)), qg(row_bytes(t, n));
    tr.from_float(x.data(), qs.data(), n);
    ggml_quantize_chunk(gt, x.data(), qg.data(), 0, n / 256, 256, nullptr);
    // Dequantize each byte string both ways.
    double es = 0, eg = 0, ref = 0;
    int mism = 0;
    for (auto* q : {&qs, &qg}) {
      std::vector<float> a(n), b(n);
      tr.to_float(q->data(), a.data(), n);
      gtr->to_float(q->data(), b.data(), n);
      if (std::memcmp(a.data(), b.data(), n * 4) != 0) {
        ++mism;
        for (int64_t i = 0; i < n; ++i) if (a[i] != b[i] && !(std::isnan(a[i]) && std::isnan(b[i]))) { printf("  first diff at %ld: strata %g ggml %g\n", (long)i, a[i], b[i]); break; }
      }
      double e = 0; for (int64_t i = 0; i < n; ++i) e += (a[i] - x[i]) * (a[i] - x[i]);
      (q == &qs ? es : eg) = e;
    }
    for (int64_t i = 0; i < n; ++i) ref += x[i] * x[i];
    printf("%-7s dequant %s | quantize error (rel MSE): strata %.3e  ggml-ref %.3e  ratio %.3f\n", std::string(tr.name).c_str(),
           mism ? "DIFFERS" : "identical", es / ref, eg / ref, es / eg);
    fails += mism;
  }
  return fails;
}
