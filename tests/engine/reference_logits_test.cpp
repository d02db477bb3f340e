// Logits and greedy tokens against llama2.c's run.c on stories260K (shared/reference).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/test_util.h"
#include "model/model_source.h"
#include "runtime/transformer.h"
#include "store/weight_store.h"

namespace strata {
namespace {

struct Case {
  const char* name;
  std::string path;
};

class ReferenceLogits : public ::testing::TestWithParam<Case> {};

// Feeds the 40 positions of the reference run (prompt + generated) one token at a time and
// in one batch; every logit row must match run.c's within 1e-4.
TEST_P(ReferenceLogits, MatchRunC) {
  auto model = open_model(GetParam().path);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto store = make_resident_store(*model);
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  auto ref = test::load_reference();
  const auto& c = ref["cases"][0];
  std::vector<int32_t> ids = c["prompt_token_ids"].get<std::vector<int32_t>>();
  for (int32_t id : c["generated_token_ids"].get<std::vector<int32_t>>()) ids.push_back(id);
  ids.resize(40);
  std::vector<float> expect = test::load_reference_logits();
  const int64_t V = model->config.n_vocab;
  ASSERT_EQ(V, 512);

  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    Transformer step(model->config, **store, pool, 512);
    std::vector<float> logits(V);
    float max_err = 0;
    for (int64_t pos = 0; pos < 40; ++pos) {
      ASSERT_TRUE(step.forward({&ids[pos], 1}, pos, logits.data(), false).is_ok());
      for (int64_t v = 0; v < V; ++v) {
        max_err = std::max(max_err, std::fabs(logits[v] - expect[pos * V + v]));
      }
    }
    EXPECT_LT(max_err, 1e-4f) << "token-by-token, threads=" << threads;

    Transformer batch(model->config, **store, pool, 512);
    std::vector<float> all(40 * V);
    ASSERT_TRUE(batch.forward(ids, 0, all.data(), true).is_ok());
    max_err = 0;
    for (size_t i = 0; i < all.size(); ++i) max_err = std::max(max_err, std::fabs(all[i] - expect[i]));
    EXPECT_LT(max_err, 1e-4f) << "batched prefill, threads=" << threads;
  }
}

INSTANTIATE_TEST_SUITE_P(Stories260K, ReferenceLogits,
                         ::testing::Values(Case{"gguf", test::kStoriesGguf},
                                           Case{"llama2c", test::kStoriesBin}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace strata
