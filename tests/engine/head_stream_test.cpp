// The output head streamed from disk in chunks of rows and the embedding read row by row
// (store/row_stream.h): the same logits, bit for bit, as resident, for one token or many,
// tied or untied, float or quantized; each token moves exactly the head's bytes; the planner
// streams the head only when nothing fits otherwise.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "engine/test_util.h"
#include "format/tensor_index.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/shapes.h"
#include "store/placement.h"
#include "store/streaming_store.h"
#include "strata/engine.h"

namespace strata {
namespace {

struct Outcome {
  std::vector<float> logits;
  std::string text;
  GenerateStats stats;
  PlacementPlan plan;
};

Outcome run(const std::string& model, const std::string& head, int64_t gpu_layers, int prefetch,
            const std::string& device = "cpu", uint64_t chunk = 8 << 10) {
  EngineOptions eo;
  eo.model_path = model;
  eo.tokenizer_path = test::kStoriesGguf;
  eo.n_threads = 2;
  eo.n_ctx = 64;
  eo.placement.gpu_layers = gpu_layers;
  eo.placement.offload_to = "disk";
  eo.placement.prefetch = prefetch;
  eo.placement.device = device;
  eo.placement.auto_pack = false;
  eo.placement.output_head = head;
  eo.placement.head_chunk_bytes = chunk;  // small: many chunks, the last one short
  Outcome o;
  auto e = Engine::open(eo);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  if (!e.is_ok()) return o;
  o.plan = (*e)->store().plan();
  GenerateOptions go;
  go.prompt = "Once upon a time there was";
  go.n_predict = 6;
  go.sampling.temperature = 0;
  go.ignore_eos = true;
  // Every row's logits: the prompt's in one pass (many rows per head chunk), then one each.
  go.on_logits = [&](const float* l, int64_t v) { o.logits.insert(o.logits.end(), l, l + v); };
  Status s = (*e)->generate(
      go,
      [&](std::string_view t) {
        o.text.append(t);
        return true;
      },
      &o.stats);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return o;
}

class HeadStreaming : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::make_temp_dir("head-stream");
    auto write = [](const std::string& shape, DType t, const std::string& name) {
      auto s = find_model_shape(shape);
      EXPECT_TRUE(s.is_ok());
      RandomModelOptions o;
      o.dtype = t;
      o.seed = 11;
      o.weight_std = 0.08f;
      const std::string path = dir_ + "/" + name;
      EXPECT_TRUE(write_random_gguf(s->config, o, path).is_ok());
      return path;
    };
    models_ = {test::kStoriesGguf,                                   // tied, F32
               write("tiny-256", DType::kQ6_K, "tiny256-q6k.gguf"),  // tied, quantized
               write("tiny-qwen3moe", DType::kQ8_0, "qwen3moe-q8.gguf")};
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static inline std::string dir_;
  static inline std::vector<std::string> models_;
};

TEST_F(HeadStreaming, BitIdenticalToResident) {
  for (const std::string& m : models_) {
    auto src = open_model(m);
    ASSERT_TRUE(src.is_ok());
    const int64_t L = src->config.n_layer;
    const Outcome ref = run(m, "resident", L, 1);
    ASSERT_FALSE(ref.logits.empty()) << m;
    EXPECT_FALSE(ref.plan.head_streamed);
    struct P {
      int64_t ngl;
      int prefetch;
      const char* device;
      uint64_t chunk;
    };
    for (const P& p : {P{L, 1, "cpu", 8 << 10}, P{0, 0, "cpu", 8 << 10}, P{1, 1, "sim", 8 << 10},
                       P{0, 1, "cpu", 1}, P{L, 1, "cpu", 64 << 20}}) {
      const Outcome got = run(m, "stream", p.ngl, p.prefetch, p.device, p.chunk);
      EXPECT_TRUE(got.plan.head_streamed);
      EXPECT_TRUE(got.plan.embd_streamed);
      ASSERT_EQ(got.logits.size(), ref.logits.size()) << m;
      EXPECT_EQ(
          std::memcmp(got.logits.data(), ref.logits.data(), ref.logits.size() * sizeof(float)), 0)
          << m << ": ngl " << p.ngl << " prefetch " << p.prefetch << " " << p.device << " chunk "
          << p.chunk;
      EXPECT_EQ(got.text, ref.text) << m;
    }
  }
}

// Every decode token reads the whole head once, chunk by chunk, and nothing more of it.
TEST_F(HeadStreaming, EachTokenMovesTheHeadsBytes) {
  const std::string m = models_[1];  // tiny-256 Q6_K, tied
  auto src = open_model(m);
  ASSERT_TRUE(src.is_ok());
  const TensorInfo* head = src->index.find("token_embd.weight");
  ASSERT_NE(head, nullptr);
  const Outcome o = run(m, "stream", src->config.n_layer, 1);
  int decode = 0;
  for (const TokenTrace& t : o.stats.traces) {
    uint64_t head_bytes = 0;
    int chunks = 0;
    for (const LayerLoad& l : t.loads) {
      EXPECT_LT(l.layer, src->config.n_layer);
      if (l.layer != -1) continue;
      head_bytes += l.bytes;
      ++chunks;
    }
    if (t.prefill) continue;
    ++decode;
    EXPECT_EQ(head_bytes, head->nbytes);
    EXPECT_GT(chunks, 2);
    EXPECT_EQ(t.bytes_streamed, head_bytes);  // every layer is resident
  }
  EXPECT_EQ(decode, 5);
}

// The planner: the head stays resident while any plan fits with it; a budget below that
// streams it; an untied embedding leaves RAM as soon as layers stream.
TEST(HeadPlan, StreamsTheHeadOnlyWhenNothingElseFits) {
  PlanInputs in;
  in.layer_bytes.assign(4, 100 << 20);
  in.globals_bytes = 1 << 20;
  in.slot_bytes = 100 << 20;
  in.embd_bytes = 200 << 20;
  in.head_bytes = 0;  // tied
  in.head_chunk_bytes = 32 << 20;
  in.runtime_bytes = 10 << 20;
  PlacementOptions o;
  o.ram_budget_bytes = 400 << 20;  // head + two slots fit: layers stream, head resident
  auto p = make_placement_plan(o, in);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_FALSE(p->head_streamed);
  EXPECT_FALSE(p->embd_streamed);
  EXPECT_EQ(p->n_resident(), 0);
  o.ram_budget_bytes = 250 << 20;  // only with the head streamed: 1 + 32 + 10 + 2 x 100 <= 250
  p = make_placement_plan(o, in);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_TRUE(p->head_streamed);
  EXPECT_TRUE(p->embd_streamed);
  EXPECT_EQ(p->prefetch, 1);
  EXPECT_EQ(p->device_bytes, (1u << 20) + (32u << 20) + 2 * (100u << 20));
  o.output_head = "resident";
  EXPECT_FALSE(make_placement_plan(o, in).is_ok());
  o.output_head = "sideways";
  EXPECT_FALSE(make_placement_plan(o, in).is_ok());

  // Untied: the 200 MiB embedding streams once layers stream; the head stays.
  in.head_bytes = 200 << 20;
  o = PlacementOptions{};
  o.ram_budget_bytes = 600 << 20;
  p = make_placement_plan(o, in);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_LT(p->n_resident(), 4);
  EXPECT_TRUE(p->embd_streamed);
  EXPECT_FALSE(p->head_streamed);
  o.ram_budget_bytes = 0;
  p = make_placement_plan(o, in);  // everything resident
  ASSERT_TRUE(p.is_ok());
  EXPECT_FALSE(p->embd_streamed);
  o.offload_to = "ram";
  o.output_head = "stream";
  p = make_placement_plan(o, in);
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("--offload-to disk"), std::string::npos);
}

}  // namespace
}  // namespace strata
