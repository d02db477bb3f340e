// Writes tests/data/quant/ggml_blocks.json: for each ggml block type strata computes with,
// blocks quantized by ggml's own reference quantizer and the floats ggml dequantizes them to,
// so strata's codecs are checked against an independent implementation without it at test
// time. Not built by strata: compile it against a llama.cpp/ggml build outside the repository,
//
//   g++ -O2 -std=c++17 -I LLAMA/ggml/include scripts/ggml_block_fixtures.cpp \
//       -L LLAMA/build/bin -lggml-base -Wl,-rpath,LLAMA/build/bin -o /tmp/fixtures
//   /tmp/fixtures > tests/data/quant/ggml_blocks.json
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ggml.h"

int main() {
  const ggml_type types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                             GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
                             GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,
                             GGML_TYPE_F16, GGML_TYPE_BF16};
  std::mt19937 rng(2026);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 512;  // two super-blocks, sixteen 32-element blocks
  std::printf("{\n \"generator\": \"scripts/ggml_block_fixtures.cpp with ggml %s\",\n \"types\": [\n",
              "(llama.cpp d32676d7)");
  for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); ++k) {
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = nd(rng) * (i % 37 == 0 ? 5.0f : 1.0f) - (k % 3 == 0 ? 0.3f : 0.0f);
    const auto* tr = ggml_get_type_traits(types[k]);
    std::vector<unsigned char> q(n / tr->blck_size * tr->type_size);
    ggml_quantize_chunk(types[k], x.data(), q.data(), 0, 1, n, nullptr);
    std::vector<float> y(n);
    tr->to_float(q.data(), y.data(), n);
    std::printf("  {\"type\": \"%s\", \"id\": %d, \"n\": %ld,\n   \"bytes\": \"", tr->type_name,
                static_cast<int>(types[k]), static_cast<long>(n));
    for (unsigned char c : q) std::printf("%02x", c);
    std::printf("\",\n   \"floats\": [");
    for (int64_t i = 0; i < n; ++i) std::printf("%s%.9g", i ? "," : "", y[i]);
    std::printf("]}%s\n", k + 1 < sizeof(types) / sizeof(types[0]) ? "," : "");
  }
  std::printf(" ]\n}\n");
}
