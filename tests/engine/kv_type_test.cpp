// The attention cache's type: F16 (default) and Q8_0 against F32, on every logit of a prompt
// and its continuation; placement stays bit-identical with an F16 cache; Q8_0 refused where
// a head is not whole blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/accuracy.h"
#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/shapes.h"
#include "runtime/kv_cache.h"
#include "strata/engine.h"

namespace strata {
namespace {

struct Logits {
  std::vector<float> all;  // every row: the prompt's positions, then each new token's
  std::string text;
};

Logits run(const std::string& model, KvType kv, int64_t gpu_layers = -1) {
  ModelOptions mo;
  mo.model_path = model;
  mo.tokenizer_path = test::kStoriesGguf;
  mo.n_threads = 2;
  mo.n_ctx = 128;
  mo.kv_type = kv;
  mo.placement.auto_pack = false;
  if (gpu_layers >= 0) {
    mo.placement.gpu_layers = gpu_layers;
    mo.placement.offload_to = "disk";
  }
  auto e = Engine::open(mo);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  Logits out;
  if (!e.is_ok()) return out;
  GenerateOptions g;
  // Prompt logits only (teacher forcing): a random model's greedy continuations diverge at
  // the first near-tie, which says nothing about the cache's precision.
  g.prompt =
      "Once upon a time, there was a little dog who liked to run in the park. One day he "
      "found a big red ball under a tree and wanted to show it to his friend the cat.";
  g.n_predict = 0;
  g.sampling.temperature = 0;
  g.ignore_eos = true;
  g.on_logits = [&](const float* l, int64_t v) { out.all.insert(out.all.end(), l, l + v); };
  EXPECT_TRUE((*e)->generate(
                      g,
                      [&](std::string_view t) {
                        out.text.append(t);
                        return true;
                      },
                      nullptr)
                  .is_ok());
  return out;
}

TEST(KvType, F16AndQ8_0AgainstF32) {
  // stories260K (real weights; head_dim 8, so no Q8_0): F16 against F32.
  {
    const Logits f32 = run(test::kStoriesGguf, KvType::kF32);
    const Logits f16 = run(test::kStoriesGguf, KvType::kF16);
    ASSERT_EQ(f32.all.size(), f16.all.size());
    const double e = test::rel_rmse(f16.all, f32.all);
    EXPECT_GT(e, 0.0);   // the cache really is F16
    EXPECT_LT(e, 1e-3);  // measured 3.1e-4
  }
  // tiny-256 (head_dim 32), random F16 weights of make-model's default scale.
  const std::string dir = test::make_temp_dir("kv-type");
  auto shape = find_model_shape("tiny-256", 4);
  ASSERT_TRUE(shape.is_ok());
  RandomModelOptions o;
  o.dtype = DType::kF16;
  o.seed = 3;
  const std::string model = dir + "/tiny.gguf";
  ASSERT_TRUE(write_random_gguf(shape->config, o, model).is_ok());
  const Logits f32 = run(model, KvType::kF32);
  const Logits f16 = run(model, KvType::kF16);
  const Logits q8 = run(model, KvType::kQ8_0);
  ASSERT_EQ(f32.all.size(), f16.all.size());
  ASSERT_EQ(f32.all.size(), q8.all.size());
  ASSERT_FALSE(f32.all.empty());
  // F16 keys and values: 11 mantissa bits against 24.
  const double e16 = test::rel_rmse(f16.all, f32.all), e8 = test::rel_rmse(q8.all, f32.all);
  EXPECT_GT(e16, 0.0);  // the cache really is F16
  EXPECT_LT(e16, 1e-3);
  EXPECT_LT(e8, 1e-2);
  EXPECT_GT(e8, e16);
  std::printf("kv f16 rel rms %.3g, q8_0 %.3g\n", e16, e8);
}

TEST(KvType, PlacementBitIdenticalWithAnF16Cache) {
  const std::string dir = test::make_temp_dir("kv-place");
  const std::string model = test::make_quantized_tiny(dir, "Q4_K_M", 5);
  const Logits resident = run(model, KvType::kF16);
  const Logits streamed = run(model, KvType::kF16, 3);
  ASSERT_EQ(resident.all.size(), streamed.all.size());
  EXPECT_EQ(0, std::memcmp(resident.all.data(), streamed.all.data(),
                           resident.all.size() * sizeof(float)));
}

TEST(KvType, Q8_0NeedsWholeBlocksPerHead) {
  ModelOptions mo;  // stories260K: head_dim 8
  mo.model_path = test::kStoriesGguf;
  mo.kv_type = KvType::kQ8_0;
  auto e = Engine::open(mo);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("head dimension"), std::string::npos) << e.status().message();
}

TEST(KvType, BytesPerPosition) {
  auto m = open_model(test::kStoriesGguf);
  ASSERT_TRUE(m.is_ok());
  const ModelConfig& c = m->config;
  EXPECT_EQ(KvCache::max_bytes(c, 100, KvType::kF32), 2ull * c.n_layer * 100 * c.kv_dim() * 4);
  EXPECT_EQ(KvCache::max_bytes(c, 100, KvType::kF16), 2ull * c.n_layer * 100 * c.kv_dim() * 2);
}

}  // namespace
}  // namespace strata
