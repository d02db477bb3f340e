// strata's forward pass against an independent implementation, Hugging Face transformers, on
// real architectures' exact shapes (two layers deep, random weights, bf16). The references in
// tests/data/hf_reference/ were computed by transformers from the Hugging Face directory that
// `strata make-model` writes for the recorded arguments (scripts/hf_crosscheck.py, run by
// scripts/gpu-check.sh on a machine that has transformers); make-model is deterministic, so
// this test writes the same weights again, as GGUF or as safetensors, runs `strata run
// --dump-logits` and compares every position's logits at 64 sampled vocabulary ids, and the
// argmax over the whole vocabulary.
// mistral-7b's reference is checked by the GPU script only: its two layers are 1.4 GB.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/cli_util.h"

namespace strata {
namespace {

struct Case {
  const char* fixture;
  const char* format;  // "gguf" or "safetensors"
};

class HfReference : public ::testing::TestWithParam<Case> {};

TEST_P(HfReference, LogitsMatchTransformers) {
  const Case c = GetParam();
  const std::string fixture_path =
      std::string(STRATA_SOURCE_DIR) + "/tests/data/hf_reference/" + c.fixture + ".json";
  std::ifstream f(fixture_path);
  ASSERT_TRUE(f.good()) << fixture_path;
  const nlohmann::json fx = nlohmann::json::parse(f);

  const std::string dir = test::make_temp_dir(std::string("hfref-") + c.fixture);
  const bool gguf = std::string(c.format) == "gguf";
  const std::string model = dir + (gguf ? "/model.gguf" : "/model");
  std::string args = "make-model --format " + std::string(c.format) + " --out " + model;
  for (const auto& a : fx["make_model"]) args += " " + a.get<std::string>();
  test::CliOutput o = test::run_cli(args);
  ASSERT_EQ(o.code, 0) << o.err;

  const std::string prompt = fx["prompt"];
  ASSERT_EQ(prompt.find('\''), std::string::npos);  // quoted for the shell below
  o = test::run_cli("tokenize -m " + model + " --ids '" + prompt + "'");
  ASSERT_EQ(o.code, 0) << o.err;
  const std::vector<int> ids = nlohmann::json::parse(o.out).get<std::vector<int>>();
  ASSERT_EQ(ids, fx["ids"].get<std::vector<int>>());

  test::write_all(dir + "/prompt.txt", prompt);
  // transformers computes attention from F32 keys and values: an F32 cache here too (the
  // default F16 cache's own error is tests/engine's KvType).
  o = test::run_cli("run -m " + model + " -f " + dir +
                    "/prompt.txt -n 1 --temp 0 -q --kv-type f32 --dump-logits " + dir +
                    "/logits.f32");
  ASSERT_EQ(o.code, 0) << o.err;
  const std::string bytes = test::read_all(dir + "/logits.f32");
  const auto& ref = fx["reference"];
  const std::vector<int> vocab_ids = ref["vocab_ids"].get<std::vector<int>>();
  const auto ref_logits = ref["logits"].get<std::vector<std::vector<double>>>();
  const std::vector<int> ref_argmax = ref["argmax"].get<std::vector<int>>();
  const size_t n_pos = ids.size();
  ASSERT_EQ(ref_logits.size(), n_pos);
  ASSERT_EQ(bytes.size() % (n_pos * sizeof(float)), 0u);
  const size_t n_vocab = bytes.size() / (n_pos * sizeof(float));
  std::vector<float> logits(n_pos * n_vocab);
  std::memcpy(logits.data(), bytes.data(), bytes.size());

  // transformers and strata sum in different orders: at capture the largest difference was
  // ~2e-5 (5e-5 for mistral) on logits of magnitude ~5.
  double max_diff = 0;
  for (size_t p = 0; p < n_pos; ++p) {
    const float* row = logits.data() + p * n_vocab;
    for (size_t k = 0; k < vocab_ids.size(); ++k) {
      const double d = std::fabs(row[vocab_ids[k]] - ref_logits[p][k]);
      max_diff = std::max(max_diff, d);
      ASSERT_LT(d, 2e-4) << "position " << p << ", vocabulary id " << vocab_ids[k];
    }
    const int argmax = static_cast<int>(std::max_element(row, row + n_vocab) - row);
    EXPECT_EQ(argmax, ref_argmax[p]) << "position " << p;
  }
  std::printf("%s (%s): %zu positions, largest difference from transformers %.2g\n", c.fixture,
              c.format, n_pos, max_diff);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Shapes, HfReference,
                         ::testing::Values(Case{"llama-3.2-1b-L2-bf16-seed1", "gguf"},
                                           Case{"qwen2.5-0.5b-L2-bf16-seed1", "gguf"},
                                           Case{"qwen3-0.6b-L2-bf16-seed1", "safetensors"}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string s =
                               std::string(info.param.fixture) + "_" + info.param.format;
                           for (char& ch : s) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return s;
                         });

}  // namespace
}  // namespace strata
