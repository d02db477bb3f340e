// The KV cache on disk (runtime/kv_cache.h, --kv-placement disk): the same logits, bit for
// bit, as in RAM for every KV type, weight placement and prefetch depth, across turns that
// reuse part of the cache; the file is read and written as the passes need; a directory that
// cannot hold it is a clear error.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/shapes.h"
#include "runtime/kv_cache.h"
#include "strata/engine.h"

namespace strata {
namespace {

struct Outcome {
  std::vector<float> logits;  // every row of every turn
  std::string text;
  std::vector<TokenTrace> traces;
  bool on_disk = false;
};

struct KvRun {
  std::string kv = "ram";
  KvType type = KvType::kF16;
  int64_t gpu_layers = -1;  // -1: all
  int prefetch = 1;
  int64_t n_ctx = 96;
};

// Three turns on one session: a prompt, a longer one sharing its start (the cache reused up
// to where they differ), then a shorter one (the sequence moves back).
Outcome run(const std::string& model, const KvRun& s, const std::string& kv_dir) {
  ModelOptions mo;
  mo.model_path = model;
  mo.tokenizer_path = test::kStoriesGguf;
  mo.n_threads = 2;
  mo.n_ctx = s.n_ctx;
  mo.n_batch = 8;  // prompts take several passes
  mo.kv_type = s.type;
  mo.kv_placement = s.kv;
  mo.kv_dir = kv_dir;
  auto src = open_model(model);
  EXPECT_TRUE(src.is_ok());
  mo.placement.gpu_layers = s.gpu_layers < 0 ? src->config.n_layer : s.gpu_layers;
  mo.placement.offload_to = "disk";
  mo.placement.prefetch = s.prefetch;
  mo.placement.auto_pack = false;
  Outcome o;
  auto m = Model::open(mo);
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  if (!m.is_ok()) return o;
  o.on_disk = (*m)->kv_on_disk();
  auto session = (*m)->new_session();
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok()) return o;
  for (const char* prompt :
       {"Once upon a time there was a little",
        "Once upon a time there was a big dog who liked to run and", "Once upon a"}) {
    GenerateOptions go;
    go.prompt = prompt;
    go.n_predict = 7;
    go.sampling.temperature = 0;
    go.ignore_eos = true;
    go.on_logits = [&](const float* l, int64_t v) { o.logits.insert(o.logits.end(), l, l + v); };
    go.on_trace = [&](const TokenTrace& t) { o.traces.push_back(t); };
    Session& ss = **session;
    Status st = ss.begin(go, [&](std::string_view t) {
      o.text.append(t);
      return true;
    });
    EXPECT_TRUE(st.is_ok()) << st.message();
    while (ss.active()) {
      Session* one = &ss;
      st = (*m)->step(std::span<Session* const>(&one, 1));
      EXPECT_TRUE(st.is_ok()) << st.message();
      if (!st.is_ok()) break;
    }
    o.text += "|";
  }
  return o;
}

class KvDisk : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::make_temp_dir("kv-disk");
    auto shape = find_model_shape("tiny-qwen3moe");
    ASSERT_TRUE(shape.is_ok());
    RandomModelOptions o;
    o.dtype = DType::kQ8_0;
    o.seed = 5;
    o.weight_std = 0.08f;
    moe_ = dir_ + "/qwen3moe-q8.gguf";
    ASSERT_TRUE(write_random_gguf(shape->config, o, moe_).is_ok());
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static inline std::string dir_, moe_;
};

TEST_F(KvDisk, BitIdenticalToRam) {
  struct Case {
    std::string model;
    KvType type;
  };
  // stories260K: 5 layers, head_dim 8 (no Q8_0); the MoE: 2 layers, head_dim 64.
  for (const Case& c :
       {Case{test::kStoriesGguf, KvType::kF16}, Case{test::kStoriesGguf, KvType::kF32},
        Case{moe_, KvType::kF16}, Case{moe_, KvType::kQ8_0}}) {
    const Outcome ref = run(c.model, KvRun{"ram", c.type}, dir_);
    ASSERT_FALSE(ref.logits.empty());
    EXPECT_FALSE(ref.on_disk);
    for (const KvRun& s :
         {KvRun{"disk", c.type}, KvRun{"disk", c.type, 0, 0}, KvRun{"disk", c.type, 1, 2}}) {
      const Outcome got = run(c.model, s, dir_);
      EXPECT_TRUE(got.on_disk);
      ASSERT_EQ(got.logits.size(), ref.logits.size()) << c.model;
      EXPECT_EQ(
          std::memcmp(got.logits.data(), ref.logits.data(), ref.logits.size() * sizeof(float)), 0)
          << c.model << " kv " << kv_type_name(c.type) << " ngl " << s.gpu_layers << " prefetch "
          << s.prefetch;
      EXPECT_EQ(got.text, ref.text);
      uint64_t read = 0, written = 0;
      for (const TokenTrace& t : got.traces) {
        read += t.kv_bytes_read;
        written += t.kv_bytes_written;
        EXPECT_GT(t.kv_bytes_written, 0u);  // every pass stores positions
      }
      // Two windows hold a two-layer model's whole cache: nothing is read back.
      auto src = open_model(c.model);
      ASSERT_TRUE(src.is_ok());
      if (src->config.n_layer > 2) {
        EXPECT_GT(read, 0u);
      } else {
        EXPECT_EQ(read, 0u);
      }
      for (const TokenTrace& t : ref.traces) EXPECT_EQ(t.kv_bytes_read + t.kv_bytes_written, 0u);
    }
  }
  // The unnamed files are gone with their caches.
  for (const auto& e : std::filesystem::directory_iterator(dir_))
    EXPECT_EQ(e.path().extension(), ".gguf") << e.path();
}

// Each pass writes back the blocks around the positions it stored, for every layer: one
// decode token at position p moves K and V blocks of every layer, and reads the positions
// before it (ahead of use, so the first layer of the next token is read in this pass).
TEST_F(KvDisk, DecodeReadsThePositionsBeforeAndWritesTheNewOne) {
  const Outcome o = run(test::kStoriesGguf, KvRun{"disk", KvType::kF16, -1, 1, 4096}, dir_);
  auto src = open_model(test::kStoriesGguf);
  ASSERT_TRUE(src.is_ok());
  const ModelConfig& c = src->config;
  const uint64_t row = 2 * c.kv_dim();  // F16
  int decode = 0;
  for (const TokenTrace& t : o.traces) {
    if (t.prefill || t.n_tokens != 1) continue;
    ++decode;
    // One block of K and one of V per layer (a row of 64 bytes never straddles blocks).
    EXPECT_EQ(t.kv_bytes_written, 2u * 4096 * c.n_layer);
    // The blocks holding the positions before the token (fewer than 128 of 64 bytes: one or
    // two blocks), K and V of every layer; not the 4096 positions' region.
    EXPECT_EQ(t.kv_bytes_read % 8192, 0u);
    EXPECT_GE(t.kv_bytes_read, 2u * 4096 * c.n_layer);
    EXPECT_LE(t.kv_bytes_read, 2u * 8192 * c.n_layer);
    EXPECT_LT(t.kv_bytes_read, 2u * row * 4096);
  }
  EXPECT_GE(decode, 15);
}

TEST_F(KvDisk, ADirectoryThatCannotHoldItIsAClearError) {
  ModelOptions mo;
  mo.model_path = test::kStoriesGguf;
  mo.kv_placement = "disk";
  mo.kv_dir = dir_ + "/missing";
  auto m = Model::open(mo);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find(dir_ + "/missing"), std::string::npos)
      << m.status().message();
  mo.kv_dir = dir_;
  mo.kv_placement = "sideways";
  m = Model::open(mo);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("--kv-placement"), std::string::npos);

  auto src = open_model(test::kStoriesGguf);
  ASSERT_TRUE(src.is_ok());
  auto kv = KvCache::create_on_disk(src->config, 64, KvType::kF16, dir_ + "/missing");
  ASSERT_FALSE(kv.is_ok());
  EXPECT_NE(kv.status().message().find("not a directory"), std::string::npos);
  kv = KvCache::create_on_disk(src->config, 64, KvType::kF16, moe_);  // a file
  ASSERT_FALSE(kv.is_ok());
  EXPECT_NE(kv.status().message().find(moe_ + ": not a directory"), std::string::npos)
      << kv.status().message();
  kv = KvCache::create_on_disk(src->config, 64, KvType::kF16, dir_);
  ASSERT_TRUE(kv.is_ok()) << kv.status().message();
  EXPECT_EQ((*kv)->tier(), KvTier::kDisk);
}

}  // namespace
}  // namespace strata
