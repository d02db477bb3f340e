// Mixture-of-experts models end to end: the make-model test shapes (tiny-mixtral, a GGUF
// "llama" with 8 experts top-2; tiny-qwen3moe, 16 experts top-4) against float64 logits
// (tests/data/moe_reference, scripts/make_moe_reference.py) and llama.cpp's, from GGUF and from
// a Hugging Face directory of the same weights; bit-identical logits for every placement;
// clear errors for models strata cannot run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/accuracy.h"
#include "engine/test_util.h"
#include "format/gguf.h"
#include "model/hf_config.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/shapes.h"
#include "model/tensor_spec.h"
#include "runtime/transformer.h"
#include "strata/engine.h"

namespace strata {
namespace {

using test::read_floats;
using test::rel_rmse;

const std::string kRefDir = test::kTestData + "/moe_reference";

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream f(kRefDir + "/reference.json");
    EXPECT_TRUE(f.good()) << kRefDir;
    return nlohmann::json::parse(f);
  }();
  return j;
}

// The model make-model writes for the reference (--seed 1 --std 0.08): the same tensor values
// (a GGUF without the vocabulary the CLI adds; the reference depends on the weights only).
std::string write_model(const std::string& shape, DType type, bool hf, const std::string& dir) {
  auto s = find_model_shape(shape);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  RandomModelOptions o;
  o.dtype = type;
  o.seed = 1;
  o.weight_std = 0.08f;
  const std::string path =
      dir + "/" + shape + "-" + std::string(dtype_name(type)) + (hf ? "-hf" : ".gguf");
  Status st = hf ? write_random_hf(s->config, o, path) : write_random_gguf(s->config, o, path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return path;
}

// Every position's logits, in one batch or one token at a time (F32 attention cache).
std::vector<float> logits_of(const std::string& path, const std::vector<int32_t>& ids,
                             bool batched) {
  auto m = open_model(path);
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  if (!m.is_ok()) return {};
  auto store = make_resident_store(*m);
  EXPECT_TRUE(store.is_ok()) << store.status().message();
  ThreadPool pool(2);
  Transformer tf(m->config, **store, pool, 64);
  const int64_t V = m->config.n_vocab, n = static_cast<int64_t>(ids.size());
  std::vector<float> out(n * V);
  if (batched) {
    EXPECT_TRUE(tf.forward(ids, 0, out.data(), true).is_ok());
  } else {
    for (int64_t p = 0; p < n; ++p) {
      EXPECT_TRUE(tf.forward({&ids[p], 1}, p, out.data() + p * V, false).is_ok());
    }
  }
  return out;
}

struct RefCase {
  const char* shape;
  const char* type;
};

class MoeReference : public ::testing::TestWithParam<RefCase> {};

// Float weights: only float32 rounding separates strata from float64, routes included.
TEST_P(MoeReference, GgufAndHuggingFaceMatchFloat64) {
  const RefCase rc = GetParam();
  const std::vector<int32_t> ids = reference()["ids"].get<std::vector<int32_t>>();
  const std::vector<float> want = read_floats(kRefDir + "/" + rc.shape + "-" + rc.type + ".f32");
  auto type = computable_dtype_by_name(rc.type);
  ASSERT_TRUE(type.has_value());
  const std::string dir = test::make_temp_dir(std::string("moeref-") + rc.shape + rc.type);
  for (bool hf : {false, true}) {
    const std::string path = write_model(rc.shape, *type, hf, dir);
    for (bool batched : {true, false}) {
      const std::vector<float> got = logits_of(path, ids, batched);
      ASSERT_EQ(got.size(), want.size());
      const double err = rel_rmse(got, want);
      RecordProperty(std::string(hf ? "hf" : "gguf") + (batched ? "_batch" : "_tokens"),
                     std::to_string(err));
      EXPECT_LT(err, 1e-5) << path << (batched ? " batched" : " token by token");
    }
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MoeReference,
    ::testing::Values(RefCase{"tiny-mixtral", "f32"}, RefCase{"tiny-mixtral", "f16"},
                      RefCase{"tiny-mixtral", "bf16"}, RefCase{"tiny-qwen3moe", "f32"},
                      RefCase{"tiny-qwen3moe", "f16"}, RefCase{"tiny-qwen3moe", "bf16"}),
    [](const auto& info) {
      std::string n = std::string(info.param.shape) + "_" + info.param.type;
      for (char& ch : n) ch = ch == '-' ? '_' : ch;
      return n;
    });

// llama.cpp on the same F32 GGUF (its logits stored): strata is as close to them as llama.cpp
// is to float64, i.e. both engines route every token the same way.
TEST(MoeLlamaCpp, SameLogitsOnTheSameGguf) {
  const std::vector<int32_t> ids = reference()["ids"].get<std::vector<int32_t>>();
  const std::string dir = test::make_temp_dir("moe-llama");
  for (const char* shape : {"tiny-mixtral", "tiny-qwen3moe"}) {
    const std::vector<float> llama = read_floats(kRefDir + "/" + shape + "-f32.llama.f32");
    const double bound = reference()["shapes"][shape]["types"]["f32"]["llama_cpp_error"];
    const std::vector<float> got =
        logits_of(write_model(shape, DType::kF32, false, dir), ids, true);
    ASSERT_EQ(got.size(), llama.size());
    const double err = rel_rmse(got, llama);
    RecordProperty(std::string(shape) + "_vs_llama_cpp", std::to_string(err));
    EXPECT_LT(err, 1.1 * bound) << shape;
    EXPECT_LT(err, 3e-3) << shape;
  }
  std::filesystem::remove_all(dir);
}

// Quantized experts: a token's logits are the same bits in a batch and alone.
TEST(MoeModel, QuantizedBatchEqualsTokenByToken) {
  const std::vector<int32_t> ids = reference()["ids"].get<std::vector<int32_t>>();
  const std::string dir = test::make_temp_dir("moe-batch");
  for (const char* shape : {"tiny-mixtral", "tiny-qwen3moe"}) {
    const std::string path = write_model(shape, DType::kQ4_K, false, dir);
    const std::vector<float> a = logits_of(path, ids, true), b = logits_of(path, ids, false);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << shape;
  }
  std::filesystem::remove_all(dir);
}

// Greedy generation through the engine; every logit row.
std::vector<float> engine_logits(const std::string& model, int64_t gpu_layers,
                                 const std::string& offload, int prefetch,
                                 const std::string& device, std::string* text) {
  EngineOptions eo;
  eo.model_path = model;
  eo.tokenizer_path = test::kStoriesGguf;
  eo.n_threads = 2;
  eo.n_ctx = 64;
  eo.placement.gpu_layers = gpu_layers;
  eo.placement.offload_to = offload;
  eo.placement.prefetch = prefetch;
  eo.placement.device = device;
  eo.placement.auto_pack = false;
  auto e = Engine::open(eo);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  if (!e.is_ok()) return {};
  GenerateOptions go;
  go.prompt = "Once upon a time";
  go.n_predict = 6;
  go.sampling.temperature = 0;
  go.ignore_eos = true;
  std::vector<float> all;
  go.on_logits = [&](const float* l, int64_t v) { all.insert(all.end(), l, l + v); };
  text->clear();
  Status s = (*e)->generate(
      go,
      [&](std::string_view t) {
        text->append(t);
        return true;
      },
      nullptr);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return all;
}

// A MoE layer streams as a whole layer like any other: resident, from RAM, from disk, any
// prefetch depth, the simulated device: the same bits.
TEST(MoePlacement, BitIdenticalEverywhere) {
  const std::string dir = test::make_temp_dir("moe-placement");
  const std::vector<std::string> models = {write_model("tiny-qwen3moe", DType::kQ4_K, false, dir),
                                           write_model("tiny-mixtral", DType::kF16, true, dir)};
  struct P {
    int64_t ngl;
    const char* offload;
    int prefetch;
    const char* device;
  };
  const P placements[] = {{0, "ram", 1, "cpu"},  {0, "disk", 0, "cpu"}, {1, "disk", 1, "cpu"},
                          {0, "disk", 2, "cpu"}, {1, "ram", 1, "sim"},  {0, "disk", 1, "sim"}};
  for (const std::string& m : models) {
    std::string ref_text;
    const std::vector<float> ref = engine_logits(m, 2, "ram", 1, "cpu", &ref_text);
    ASSERT_FALSE(ref.empty()) << m;
    for (const P& p : placements) {
      std::string text;
      const std::vector<float> got =
          engine_logits(m, p.ngl, p.offload, p.prefetch, p.device, &text);
      ASSERT_EQ(got.size(), ref.size()) << m;
      EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
          << m << ": ngl " << p.ngl << " " << p.offload << " prefetch " << p.prefetch << " "
          << p.device;
      EXPECT_EQ(text, ref_text);
    }
  }
  std::filesystem::remove_all(dir);
}

// Bad expert metadata and configs: errors that name the file and the key, never a crash.
TEST(MoeErrors, BadCountsAreRefused) {
  auto gguf_error = [](int64_t count, int64_t used, const char* arch = "qwen3moe") {
    Metadata m;
    const std::string a = arch;
    m["general.architecture"] = MetaValue::of_string(a);
    m[a + ".block_count"] = MetaValue::of_u32(2);
    m[a + ".embedding_length"] = MetaValue::of_u32(256);
    m[a + ".feed_forward_length"] = MetaValue::of_u32(256);
    m[a + ".attention.head_count"] = MetaValue::of_u32(4);
    if (count >= 0) m[a + ".expert_count"] = MetaValue::of_u64(static_cast<uint64_t>(count));
    if (used >= 0) m[a + ".expert_used_count"] = MetaValue::of_u64(static_cast<uint64_t>(used));
    auto c = config_from_gguf_metadata(m, "bad.gguf");
    return c.is_ok() ? std::string() : c.status().message();
  };
  EXPECT_NE(gguf_error(100000, 2).find("experts per layer is out of range"), std::string::npos);
  EXPECT_NE(gguf_error(8, 9).find("9 experts used per token, with 8 experts"), std::string::npos);
  EXPECT_NE(gguf_error(8, 0).find("bad.gguf"), std::string::npos);
  EXPECT_NE(gguf_error(8, -1).find("expert_used_count"), std::string::npos);
  EXPECT_NE(gguf_error(-1, -1).find("qwen3moe without"), std::string::npos);
  EXPECT_EQ(gguf_error(8, 2), "");
  EXPECT_EQ(gguf_error(-1, -1, "llama"), "");  // dense

  auto hf_error = [](const std::string& key, const nlohmann::json& value) {
    nlohmann::json j = {{"model_type", "qwen3_moe"}, {"num_hidden_layers", 2},
                        {"hidden_size", 256},        {"num_attention_heads", 4},
                        {"vocab_size", 512},         {"num_experts", 16},
                        {"num_experts_per_tok", 4},  {"moe_intermediate_size", 256}};
    if (value.is_null()) {
      j.erase(key);
    } else {
      j[key] = value;
    }
    auto c = config_from_hf_json(j, "dir/config.json");
    return c.is_ok() ? std::string() : c.status().message();
  };
  EXPECT_EQ(hf_error("norm_topk_prob", true), "");
  EXPECT_NE(hf_error("num_experts_per_tok", 17).find("17 experts used per token"),
            std::string::npos);
  EXPECT_NE(hf_error("num_experts", 5000).find("num_experts"), std::string::npos);
  EXPECT_NE(hf_error("moe_intermediate_size", nullptr).find("moe_intermediate_size"),
            std::string::npos);
  EXPECT_NE(hf_error("decoder_sparse_step", 2).find("decoder_sparse_step 2"), std::string::npos);
  EXPECT_NE(hf_error("mlp_only_layers", {0}).find("mlp_only_layers [0]"), std::string::npos);
  EXPECT_NE(hf_error("norm_topk_prob", "yes").find("norm_topk_prob"), std::string::npos);
}

// A missing router or expert, or experts of the wrong shape: named, in GGUF and checkpoint terms.
TEST(MoeErrors, MissingAndMisshapenTensorsAreNamed) {
  const std::string dir = test::make_temp_dir("moe-errors");
  for (bool hf : {false, true}) {
    auto m = open_model(write_model("tiny-mixtral", DType::kF16, hf, dir));
    ASSERT_TRUE(m.is_ok()) << m.status().message();
    TensorIndex without_router;
    for (const TensorInfo& t : m->index.tensors()) {
      if (t.name != "blk.1.ffn_gate_inp.weight") without_router.add(t);
    }
    Status s = validate_tensors(m->config, without_router, m->path, hf);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("missing tensor 'blk.1.ffn_gate_inp.weight'"), std::string::npos)
        << s.message();
    if (hf) {
      EXPECT_NE(s.message().find("model.layers.1.block_sparse_moe.gate.weight"), std::string::npos)
          << s.message();
    }
    ModelConfig four = m->config;
    four.n_expert = 4;
    s = validate_tensors(four, m->index, m->path, hf);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("expected [4, 256]"), std::string::npos) << s.message();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata
