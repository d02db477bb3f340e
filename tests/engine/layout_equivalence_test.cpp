// The classic RoPE trap: a Hugging Face checkpoint (rotate-half) and the GGUF llama.cpp's
// converter would write from it (q/k rows permuted, interleaved RoPE) are the same model.
// The test writes both files itself and compares logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "runtime/transformer.h"
#include "store/weight_store.h"

namespace strata {
namespace {

ModelConfig tiny(Arch arch, const char* name) {
  ModelConfig c;
  c.arch = arch;
  c.arch_name = name;
  c.n_layer = 2;
  c.n_embd = 64;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 16;
  c.n_ff = 96;
  c.n_vocab = 128;
  c.n_ctx_train = 256;
  c.rope_theta = 10000.0f;
  c.rms_eps = 1e-5f;
  c.rope_style = (arch == Arch::kQwen2 || arch == Arch::kQwen3) ? RopeStyle::kNeox : RopeStyle::kInterleaved;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3;
  return c;
}

struct Variant {
  const char* name;
  ModelConfig config;
  DType dtype;
};

std::vector<float> run_logits(const std::string& path, const std::vector<int32_t>& ids) {
  auto model = open_model(path);
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return {};
  auto store = make_resident_store(*model);
  EXPECT_TRUE(store.is_ok()) << store.status().message();
  ThreadPool pool(2);
  Transformer tr(model->config, **store, pool, 64);
  const int64_t V = model->config.n_vocab;
  std::vector<float> out(ids.size() * V);
  // A 6-token prefill, then token-by-token decode.
  EXPECT_TRUE(tr.forward({ids.data(), 6}, 0, out.data(), true).is_ok());
  for (size_t p = 6; p < ids.size(); ++p) {
    EXPECT_TRUE(tr.forward({&ids[p], 1}, static_cast<int64_t>(p), out.data() + p * V, false).is_ok());
  }
  return out;
}

class LayoutEquivalence : public ::testing::TestWithParam<Variant> {};

TEST_P(LayoutEquivalence, HfAndGgufGiveTheSameLogits) {
  const Variant& v = GetParam();
  std::string dir = test::make_temp_dir(v.name);
  RandomModelOptions o;
  o.dtype = v.dtype;
  o.seed = 1234;
  o.weight_std = 0.15f;   // large enough that attention patterns are far from uniform
  o.norm_jitter = 0.2f;
  const std::string gguf = dir + "/model.gguf", hf = dir + "/hf";
  ASSERT_TRUE(write_random_gguf(v.config, o, gguf).is_ok());
  ASSERT_TRUE(write_random_hf(v.config, o, hf, 64 * 1024).is_ok());  // several shards

  auto g = open_model(gguf);
  auto h = open_model(hf);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  ASSERT_TRUE(h.is_ok()) << h.status().message();
  EXPECT_EQ(g->config.rope_style, v.config.rope_style);
  EXPECT_EQ(h->config.rope_style, RopeStyle::kNeox);
  EXPECT_EQ(h->config.tied_embeddings, v.config.tied_embeddings);
  EXPECT_EQ(g->config.tied_embeddings, v.config.tied_embeddings);

  std::vector<int32_t> ids = {1, 17, 42, 99, 5, 64, 127, 3, 88, 23, 0, 77};
  std::vector<float> lg = run_logits(gguf, ids), lh = run_logits(hf, ids);
  ASSERT_EQ(lg.size(), lh.size());
  float max_err = 0, max_abs = 0;
  for (size_t i = 0; i < lg.size(); ++i) {
    max_err = std::max(max_err, std::fabs(lg[i] - lh[i]));
    max_abs = std::max(max_abs, std::fabs(lg[i]));
  }
  EXPECT_GT(max_abs, 0.1f) << "logits too small for the comparison to mean anything";
  EXPECT_LT(max_err, 2e-5f * std::max(1.0f, max_abs)) << "max |logit| " << max_abs;

  // And the trap is real: reading the GGUF's permuted weights with rotate-half RoPE gives
  // different logits (so the test above would catch a missed permutation).
  if (v.config.rope_style == RopeStyle::kInterleaved) {
    auto store = make_resident_store(*g);
    ASSERT_TRUE(store.is_ok());
    ModelConfig wrong = g->config;
    wrong.rope_style = RopeStyle::kNeox;
    ThreadPool pool(1);
    Transformer tr(wrong, **store, pool, 64);
    std::vector<float> out(6 * g->config.n_vocab);
    ASSERT_TRUE(tr.forward({ids.data(), 6}, 0, out.data(), true).is_ok());
    float diff = 0;
    for (size_t i = 0; i < out.size(); ++i) diff = std::max(diff, std::fabs(out[i] - lh[i]));
    EXPECT_GT(diff, 1e-3f);
  }
  std::filesystem::remove_all(dir);
}

// A safetensors header may have any length, so tensor data can start at an odd offset; no
// kernel may then load a misaligned float (UBSan): such tensors are realigned on load and
// give the same bits as the aligned file.
TEST(LayoutEquivalence, MisalignedSafetensorsDataGivesTheSameLogits) {
  for (DType dtype : {DType::kF32, DType::kF16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const std::string dir = test::make_temp_dir("misaligned");
    RandomModelOptions o;
    o.dtype = dtype;
    o.seed = 7;
    o.weight_std = 0.15f;
    o.norm_jitter = 0.2f;
    const ModelConfig c = tiny(Arch::kQwen2, "qwen2");  // biases: 1-D tensors of every kind
    ASSERT_TRUE(write_random_hf(c, o, dir + "/aligned").is_ok());
    std::filesystem::copy(dir + "/aligned", dir + "/odd");
    // One more byte of header (a space inside the JSON, which the format allows) shifts all
    // the data by one byte.
    const std::string shard = dir + "/odd/model-00001-of-00001.safetensors";
    std::string bytes = test::read_file(shard);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    bytes.insert(8 + n - 1, " ");
    ++n;
    std::memcpy(bytes.data(), &n, 8);
    test::write_file(shard, bytes);
    const std::vector<int32_t> ids = {1, 17, 42, 99, 5, 64, 127, 3};
    const std::vector<float> a = run_logits(dir + "/aligned", ids);
    const std::vector<float> b = run_logits(dir + "/odd", ids);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
    std::filesystem::remove_all(dir);
  }
}

std::vector<Variant> variants() {
  std::vector<Variant> v;
  v.push_back({"llama_f32", tiny(Arch::kLlama, "llama"), DType::kF32});
  v.push_back({"llama_f16", tiny(Arch::kLlama, "llama"), DType::kF16});
  ModelConfig l3 = tiny(Arch::kLlama, "llama");
  l3.tied_embeddings = true;
  l3.llama3_rope_scaling = true;
  l3.rope_factor = 32.0f;
  l3.rope_low_freq_factor = 1.0f;
  l3.rope_high_freq_factor = 4.0f;
  l3.rope_original_ctx = 64;  // small so the scaling band covers this tiny head
  l3.rope_theta = 500000.0f;
  v.push_back({"llama32_tied_rope_scaled_bf16", l3, DType::kBF16});
  ModelConfig mi = tiny(Arch::kMistral, "mistral");
  mi.sliding_window = 4;  // shorter than the sequence: exercises the window
  v.push_back({"mistral_sliding_window", mi, DType::kF32});
  v.push_back({"qwen2_bias", tiny(Arch::kQwen2, "qwen2"), DType::kF32});
  ModelConfig q3 = tiny(Arch::kQwen3, "qwen3");
  q3.head_dim = 32;  // Qwen3 decouples head_dim from n_embd / n_head
  q3.tied_embeddings = true;
  v.push_back({"qwen3_qk_norm", q3, DType::kBF16});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Archs, LayoutEquivalence, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace strata
