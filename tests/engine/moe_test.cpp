// Mixture-of-experts FFN: routing as Mixtral and Qwen3-MoE define it, every weight type as
// expert tensors against a double-precision computation over the dequantized weights, batch
// invariance, and stacked and split experts giving the same bits.
#include "runtime/moe.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/accuracy.h"
#include "core/quant/parallel.h"
#include "model/model_writer.h"

namespace strata {
namespace {

using test::rel_rmse;

ModelConfig moe_config(MoeRouting routing, int64_t E, int64_t k) {
  ModelConfig c;
  c.arch = routing == MoeRouting::kTopkSoftmax ? Arch::kMixtral : Arch::kQwen3Moe;
  c.n_embd = 256;
  c.n_expert = E;
  c.n_expert_used = k;
  c.n_ff_exp = 256;
  c.moe_routing = routing;
  return c;
}

TEST(MoeRouting, MixtralSoftmaxOverTheTopKLogits) {
  ModelConfig c = moe_config(MoeRouting::kTopkSoftmax, 5, 2);
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.0f, 1.9f};
  int32_t ids[2];
  float w[2];
  route_token(c, logits.data(), ids, w);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 4);
  const double e = std::exp(-0.1);
  EXPECT_NEAR(w[0], 1 / (1 + e), 1e-6);
  EXPECT_NEAR(w[1], e / (1 + e), 1e-6);
}

TEST(MoeRouting, Qwen3SoftmaxOverAllThenTopKRenormalizedOrNot) {
  for (bool norm : {true, false}) {
    ModelConfig c = moe_config(MoeRouting::kSoftmaxTopk, 4, 2);
    c.moe_norm_topk = norm;
    std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f};
    int32_t ids[2];
    float w[2];
    route_token(c, logits.data(), ids, w);
    EXPECT_EQ(ids[0], 1);
    EXPECT_EQ(ids[1], 2);
    const double z = std::exp(1.0) + std::exp(3.0) + std::exp(2.0) + 1.0;
    const double p1 = std::exp(3.0) / z, p2 = std::exp(2.0) / z;
    EXPECT_NEAR(w[0], norm ? p1 / (p1 + p2) : p1, 1e-6) << norm;
    EXPECT_NEAR(w[1], norm ? p2 / (p1 + p2) : p2, 1e-6) << norm;
  }
}

TEST(MoeRouting, TiesGoToTheLowerIndexAndNanNeverWins) {
  for (MoeRouting r : {MoeRouting::kTopkSoftmax, MoeRouting::kSoftmaxTopk}) {
    ModelConfig c = moe_config(r, 6, 3);
    std::vector<float> logits = {1.0f, 2.0f, 2.0f, std::numeric_limits<float>::quiet_NaN(),
                                 2.0f, 1.0f};
    int32_t ids[3];
    float w[3];
    if (r == MoeRouting::kSoftmaxTopk) logits[3] = -50.0f;  // a NaN would poison the softmax
    route_token(c, logits.data(), ids, w);
    EXPECT_EQ(ids[0], 1);
    EXPECT_EQ(ids[1], 2);
    EXPECT_EQ(ids[2], 4);
    EXPECT_NEAR(w[0] + w[1] + w[2], 1.0f, 1e-6);
  }
}

// A layer of E experts in `type`, stacked as a GGUF holds them, with its dequantized copy.
struct TestLayer {
  ModelConfig c;
  DType type;
  std::vector<float> router;                // [E, n_embd], F32 as llama.cpp converts it
  std::vector<char> gate, up, down;         // stacked, in `type`
  std::vector<float> gate_f, up_f, down_f;  // their exact values
  LayerWeights stacked, split;

  TestLayer(const ModelConfig& cfg, DType t) : c(cfg), type(t) {
    const int64_t E = c.n_expert, d = c.n_embd, f = c.n_ff_exp;
    // Router rows are basis vectors: token inputs below pick their experts by a wide margin,
    // so quantization noise cannot change a route and the double reference routes alike.
    router.assign(E * d, 0.0f);
    for (int64_t e = 0; e < E; ++e) router[e * d + e] = 1.0f;
    auto make = [&](const char* key, int64_t n, std::vector<char>* q, std::vector<float>* deq) {
      std::vector<float> v(n);
      random_normal(11, key, v.data(), n);
      for (float& x : v) x *= 0.05f;
      q->resize(row_bytes(type, n));
      quant::from_float_parallel(type, v.data(), q->data(), n);
      deq->resize(n);
      type_traits(type).to_float(q->data(), deq->data(), n);
    };
    make("gate", E * f * d, &gate, &gate_f);
    make("up", E * f * d, &up, &up_f);
    make("down", E * d * f, &down, &down_f);
    auto view = [&](const void* p, DType dt, int64_t rows, int64_t cols) {
      return WeightView{p, dt, rows, cols, static_cast<int64_t>(row_bytes(dt, cols))};
    };
    stacked.t[static_cast<int>(LayerTensor::kRouter)] = view(router.data(), DType::kF32, E, d);
    split.t = stacked.t;
    stacked.t[static_cast<int>(LayerTensor::kGateExps)] = view(gate.data(), type, E * f, d);
    stacked.t[static_cast<int>(LayerTensor::kUpExps)] = view(up.data(), type, E * f, d);
    stacked.t[static_cast<int>(LayerTensor::kDownExps)] = view(down.data(), type, E * d, f);
    // Split: the same bytes as one view per expert (what a Hugging Face layer has).
    for (int64_t e = 0; e < E; ++e) {
      split.split_experts.push_back(view(gate.data() + e * f * row_bytes(type, d), type, f, d));
      split.split_experts.push_back(view(up.data() + e * f * row_bytes(type, d), type, f, d));
      split.split_experts.push_back(view(down.data() + e * d * row_bytes(type, f), type, d, f));
    }
  }

  // Token t's input: small noise with experts a(t), b(t) far ahead of the rest.
  std::vector<float> inputs(int64_t n) const {
    const int64_t d = c.n_embd;
    std::vector<float> x(n * d);
    random_normal(12, "x", x.data(), n * d);
    for (float& v : x) v *= 0.3f;
    for (int64_t t = 0; t < n; ++t) {
      x[t * d + t % c.n_expert] = 2.0f;
      x[t * d + (3 * t + 1) % c.n_expert] = 1.5f + 0.1f * static_cast<float>(t % 3);
    }
    return x;
  }

  // The block in double precision over the dequantized weights.
  std::vector<double> reference(const std::vector<float>& x, int64_t n) const {
    const int64_t E = c.n_expert, d = c.n_embd, f = c.n_ff_exp, k = c.n_expert_used;
    std::vector<double> out(n * d, 0.0);
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x.data() + t * d;
      std::vector<float> logits(E);
      for (int64_t e = 0; e < E; ++e) logits[e] = xt[e];  // basis router, exact
      std::vector<int32_t> ids(k);
      std::vector<float> w(k);
      route_token(c, logits.data(), ids.data(), w.data());
      for (int64_t j = 0; j < k; ++j) {
        const int64_t e = ids[j];
        std::vector<double> h(f);
        for (int64_t r = 0; r < f; ++r) {
          double g = 0, u = 0;
          for (int64_t i = 0; i < d; ++i) {
            g += double(gate_f[(e * f + r) * d + i]) * xt[i];
            u += double(up_f[(e * f + r) * d + i]) * xt[i];
          }
          h[r] = g / (1 + std::exp(-g)) * u;
        }
        for (int64_t r = 0; r < d; ++r) {
          double y = 0;
          for (int64_t i = 0; i < f; ++i) y += double(down_f[(e * d + r) * f + i]) * h[i];
          out[t * d + r] += w[j] * y;
        }
      }
    }
    return out;
  }
};

struct TypeCase {
  DType type;
  // Quantized types: ~1% at any weight precision (Q8_0 to Q2_K alike), the 8-bit activations'
  // rounding over a gate/up and a down matmul, measured 1.0% (32-element blocks) to 1.3% (K).
  double max_error;
};

class MoeExpertTypes : public ::testing::TestWithParam<TypeCase> {};

TEST_P(MoeExpertTypes, MatchDoubleAndAreBatchInvariant) {
  const TypeCase tc = GetParam();
  for (MoeRouting routing : {MoeRouting::kTopkSoftmax, MoeRouting::kSoftmaxTopk}) {
    ModelConfig c = moe_config(routing, 8, routing == MoeRouting::kTopkSoftmax ? 2 : 3);
    TestLayer layer(c, tc.type);
    const int64_t n = 12, d = c.n_embd;
    const std::vector<float> x = layer.inputs(n);
    const std::vector<double> want = layer.reference(x, n);
    ThreadPool pool(2);
    MoeFfn moe(c, 16);
    std::vector<float> batch(n * d), split(n * d), solo(n * d);
    ASSERT_TRUE(moe.forward(pool, layer.stacked, nullptr, 0, x.data(), n, batch.data()).is_ok());
    EXPECT_LT(rel_rmse(batch, want), tc.max_error) << dtype_name(tc.type);
    for (int64_t t = 0; t < n; ++t) {  // every expert is used by some token
      EXPECT_EQ(moe.last_ids()[t * c.n_expert_used], t % c.n_expert);
    }
    // Split experts are the same matrices: the same bits.
    ModelConfig c_split = c;
    c_split.experts_split = true;
    MoeFfn moe_split(c_split, 16);
    ASSERT_TRUE(
        moe_split.forward(pool, layer.split, nullptr, 0, x.data(), n, split.data()).is_ok());
    EXPECT_EQ(std::memcmp(split.data(), batch.data(), batch.size() * sizeof(float)), 0);
    // One token at a time, in place (out aliasing x, as the executor calls it).
    for (int64_t t = 0; t < n; ++t) {
      std::copy(x.begin() + t * d, x.begin() + (t + 1) * d, solo.begin() + t * d);
      ASSERT_TRUE(
          moe.forward(pool, layer.stacked, nullptr, 0, solo.data() + t * d, 1, solo.data() + t * d)
              .is_ok());
    }
    const bool float_type =
        tc.type == DType::kF32 || tc.type == DType::kF16 || tc.type == DType::kBF16;
    if (float_type) {
      EXPECT_LT(rel_rmse(solo, want), tc.max_error);  // kernels.h: rounding apart
    } else {
      EXPECT_EQ(std::memcmp(solo.data(), batch.data(), batch.size() * sizeof(float)), 0)
          << dtype_name(tc.type) << ": a token's result depends on its batch";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, MoeExpertTypes,
    ::testing::Values(TypeCase{DType::kF32, 1e-5}, TypeCase{DType::kF16, 1e-5},
                      TypeCase{DType::kBF16, 1e-5}, TypeCase{DType::kQ8_0, 2e-2},
                      TypeCase{DType::kQ4_0, 2e-2}, TypeCase{DType::kQ4_1, 2e-2},
                      TypeCase{DType::kQ5_0, 2e-2}, TypeCase{DType::kQ5_1, 2e-2},
                      TypeCase{DType::kQ2_K, 2e-2}, TypeCase{DType::kQ3_K, 2e-2},
                      TypeCase{DType::kQ4_K, 2e-2}, TypeCase{DType::kQ5_K, 2e-2},
                      TypeCase{DType::kQ6_K, 2e-2}, TypeCase{DType::kIQ4_NL, 2e-2},
                      TypeCase{DType::kIQ4_XS, 2e-2}),
    [](const auto& info) { return std::string(dtype_name(info.param.type)); });

}  // namespace
}  // namespace strata
