// Mixture-of-experts layers streamed expert by expert (store/expert_cache.h): the same bits as
// all resident for every cache size (down to one expert, smaller than a layer's batch of
// experts) and prefetch depth; only the chosen experts' bytes move, counted exactly; the
// planner gives the room a budget leaves to the cache; a failing disk is an error, not a hang.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <set>

#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/shapes.h"
#include "runtime/transformer.h"
#include "store/expert_cache.h"
#include "store/placement.h"
#include "store/streaming_store.h"
#include "strata/engine.h"

namespace strata {
namespace {

std::string write_model(const std::string& shape, DType type, bool hf, const std::string& dir) {
  auto s = find_model_shape(shape);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  RandomModelOptions o;
  o.dtype = type;
  o.seed = 5;
  o.weight_std = 0.08f;
  const std::string path =
      dir + "/" + shape + "-" + std::string(dtype_name(type)) + (hf ? "-hf" : ".gguf");
  Status st = hf ? write_random_hf(s->config, o, path) : write_random_gguf(s->config, o, path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return path;
}

struct RunResult {
  std::vector<float> logits;  // every row: the prompt's, then each new token's
  std::string text;
  GenerateStats stats;
  PlacementPlan plan;
  bool ok = false;
};

struct Opts {
  int64_t gpu_layers = 0;
  std::string offload = "disk";
  int prefetch = 1;
  uint64_t expert_cache = 0;  // bytes; 0 = auto
  bool stream_experts = true;
  bool expert_prefetch = true;
  uint64_t ram_budget = 0;
  std::string device = "cpu";
  std::string name() const {
    return fmt::format("ngl {} {} prefetch {} expert-cache {} stream-experts {} budget {} {}",
                       gpu_layers, offload, prefetch, expert_cache, stream_experts, ram_budget,
                       device);
  }
};

// Greedy generation of 8 tokens after a 14-token prompt (one batch: the layer needs more
// experts than a small cache holds).
RunResult generate(const std::string& model, const Opts& o) {
  EngineOptions eo;
  eo.model_path = model;
  eo.tokenizer_path = test::kStoriesGguf;
  eo.n_threads = 2;
  eo.n_ctx = 64;
  eo.placement.gpu_layers = o.gpu_layers;
  eo.placement.offload_to = o.offload;
  eo.placement.prefetch = o.prefetch;
  eo.placement.expert_cache_bytes = o.expert_cache;
  eo.placement.stream_experts = o.stream_experts;
  eo.placement.expert_prefetch = o.expert_prefetch;
  eo.placement.ram_budget_bytes = o.ram_budget;
  eo.placement.device = o.device;
  eo.placement.auto_pack = false;
  RunResult r;
  auto e = Engine::open(eo);
  EXPECT_TRUE(e.is_ok()) << o.name() << ": " << e.status().message();
  if (!e.is_ok()) return r;
  r.plan = (*e)->store().plan();
  GenerateOptions go;
  go.prompt = "Once upon a time there was a little girl who liked to play";
  go.n_predict = 8;
  go.sampling.temperature = 0;
  go.ignore_eos = true;
  go.on_logits = [&](const float* l, int64_t v) { r.logits.insert(r.logits.end(), l, l + v); };
  Status s = (*e)->generate(
      go,
      [&](std::string_view t) {
        r.text.append(t);
        return true;
      },
      &r.stats);
  EXPECT_TRUE(s.is_ok()) << o.name() << ": " << s.message();
  r.ok = s.is_ok();
  return r;
}

class ExpertStreaming : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::make_temp_dir("expert-stream");
    // Stacked experts (GGUF, quantized) and split experts (a Hugging Face directory).
    qwen_ = write_model("tiny-qwen3moe", DType::kQ4_K, false, dir_);
    mixtral_hf_ = write_model("tiny-mixtral", DType::kBF16, true, dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static inline std::string dir_, qwen_, mixtral_hf_;
};

TEST_F(ExpertStreaming, BitIdenticalForEveryCacheSizeAndPrefetch) {
  for (const std::string& m : {qwen_, mixtral_hf_}) {
    auto src = open_model(m);
    ASSERT_TRUE(src.is_ok()) << src.status().message();
    const ModelConfig& c = src->config;
    auto esb = ExpertCache::expert_slot_bytes(c, src->index, 0);
    ASSERT_TRUE(esb.is_ok()) << esb.status().message();
    const RunResult ref = generate(m, {.gpu_layers = c.n_layer});
    ASSERT_TRUE(ref.ok);
    ASSERT_FALSE(ref.plan.experts_streamed);
    const uint64_t one = *esb;
    const std::vector<Opts> cases = {
        {.expert_cache = one},  // one expert at a time
        {.prefetch = 0, .expert_cache = 2 * one},
        {.expert_cache = one * static_cast<uint64_t>(c.n_expert_used)},
        {.expert_cache = one * static_cast<uint64_t>(c.n_expert_used + 1)},
        {.prefetch = 2},  // auto: the bytes whole-layer slots would take
        {.gpu_layers = 1, .expert_cache = 3 * one},
        {.device = "sim"},
        {.stream_experts = false},
        {.offload = "ram"},  // RAM holds every expert: whole layers are copied
    };
    for (const Opts& o : cases) {
      const RunResult got = generate(m, o);
      ASSERT_TRUE(got.ok) << m << ": " << o.name();
      const bool want_experts = o.stream_experts && o.offload == "disk";
      EXPECT_EQ(got.plan.experts_streamed, want_experts) << o.name();
      if (o.expert_cache > 0) {
        EXPECT_EQ(got.plan.expert_slots, static_cast<int64_t>(o.expert_cache / one)) << o.name();
      }
      ASSERT_EQ(got.logits.size(), ref.logits.size()) << o.name();
      EXPECT_EQ(
          std::memcmp(got.logits.data(), ref.logits.data(), ref.logits.size() * sizeof(float)), 0)
          << m << ": " << o.name() << ": logits differ from all-resident";
      EXPECT_EQ(got.text, ref.text) << o.name();
    }
  }
}

// Every expert load moves exactly one expert's bytes; loads are the misses plus the
// prefetches; a cache that holds every expert reads each expert at most once.
TEST_F(ExpertStreaming, OnlyTheChosenExpertsMove) {
  auto src = open_model(qwen_);
  ASSERT_TRUE(src.is_ok());
  const ModelConfig& c = src->config;
  const uint64_t expert_bytes = 3ull * row_bytes(DType::kQ4_K, c.n_embd) * c.n_ff_exp;
  auto esb = ExpertCache::expert_slot_bytes(c, src->index, 0);
  ASSERT_TRUE(esb.is_ok());
  for (uint64_t slots :
       {static_cast<uint64_t>(c.n_expert_used), static_cast<uint64_t>(c.n_expert * c.n_layer)}) {
    const RunResult r = generate(qwen_, {.expert_cache = slots * *esb});
    ASSERT_TRUE(r.ok);
    int64_t lookups = 0, hits = 0, prefetched = 0, loads = 0;
    uint64_t bytes = 0;
    std::set<std::pair<int64_t, int32_t>> distinct;
    for (const TokenTrace& t : r.stats.traces) {
      lookups += t.expert_lookups;
      hits += t.expert_hits;
      prefetched += t.expert_prefetched;
      uint64_t trace_bytes = 0;
      for (const LayerLoad& l : t.loads) {
        ASSERT_GE(l.expert, 0) << "every layer streams its experts: no whole-layer loads";
        EXPECT_EQ(l.bytes, expert_bytes);
        EXPECT_GE(l.read_bytes, l.bytes);
        EXPECT_LE(l.read_bytes, l.bytes + 6 * 4096);
        ++loads;
        trace_bytes += l.bytes;
        distinct.insert({l.layer, l.expert});
      }
      EXPECT_EQ(t.bytes_streamed, trace_bytes);
      bytes += trace_bytes;
    }
    // Loads still in flight when generation ended are not in any trace.
    EXPECT_LE(loads, lookups - hits + prefetched) << slots;
    EXPECT_GE(loads, lookups - hits) << slots;
    EXPECT_EQ(bytes, static_cast<uint64_t>(loads) * expert_bytes);
    // Each token routes to n_expert_used experts per layer.
    const int64_t tokens = r.stats.n_prompt_tokens + r.stats.n_generated - 1;
    EXPECT_LE(lookups, tokens * c.n_expert_used * c.n_layer);
    if (slots >= static_cast<uint64_t>(c.n_expert * c.n_layer)) {
      EXPECT_EQ(static_cast<size_t>(loads), distinct.size()) << "an expert was read twice";
      EXPECT_EQ(r.plan.expert_slots, c.n_expert * c.n_layer);
    }
    const StreamSummary ss = summarize_stream(r.stats);
    EXPECT_GT(ss.expert_lookups, 0);
    EXPECT_NEAR(ss.expert_hit_rate,
                static_cast<double>(ss.expert_hits) / static_cast<double>(ss.expert_lookups),
                1e-12);
    // A decode token moves at most its own experts plus the guesses, never whole layers.
    EXPECT_LE(ss.bytes_per_token, 2.0 * c.n_expert_used * c.n_layer * expert_bytes);
  }
}

// Without prefetch, only the experts routing chose move: every decode token reads exactly
// (1 - hit rate) x its chosen experts' bytes, the formula, for any cache size.
TEST_F(ExpertStreaming, WithoutPrefetchTheBytesAreTheMisses) {
  auto src = open_model(qwen_);
  ASSERT_TRUE(src.is_ok());
  const ModelConfig& c = src->config;
  const uint64_t expert_bytes = 3ull * row_bytes(DType::kQ4_K, c.n_embd) * c.n_ff_exp;
  auto esb = ExpertCache::expert_slot_bytes(c, src->index, 0);
  ASSERT_TRUE(esb.is_ok());
  for (uint64_t slots : {static_cast<uint64_t>(c.n_expert_used),
                         static_cast<uint64_t>(c.n_expert * c.n_layer / 2)}) {
    const RunResult r = generate(qwen_, {.expert_cache = slots * *esb, .expert_prefetch = false});
    ASSERT_TRUE(r.ok);
    int64_t decode = 0;
    for (const TokenTrace& t : r.stats.traces) {
      EXPECT_EQ(t.expert_prefetch_hits, 0);
      if (t.prefill) continue;
      ++decode;
      EXPECT_EQ(t.bytes_streamed,
                static_cast<uint64_t>(t.expert_lookups - t.expert_hits) * expert_bytes)
          << slots << " slots";
    }
    EXPECT_GT(decode, 0);
    const StreamSummary ss = summarize_stream(r.stats);
    const double formula = (1.0 - ss.expert_hit_rate) * static_cast<double>(ss.expert_lookups) /
                           static_cast<double>(ss.n_decode_steps) * expert_bytes;
    EXPECT_NEAR(ss.bytes_per_token, formula, 1e-6 * formula + 1e-9);
  }
}

// The planner: a budget's room goes to the expert cache (every layer's attention and
// router resident), an explicit cache size is kept, too small a budget or cache is an error.
TEST(ExpertPlan, BudgetsSizeTheCache) {
  PlanInputs in;
  in.layer_bytes.assign(4, 100 << 20);
  in.dense_bytes.assign(4, 10 << 20);
  in.globals_bytes = 50 << 20;
  in.slot_bytes = 100 << 20;
  in.expert_slot_bytes = 1 << 20;
  in.n_expert = 90;
  in.n_expert_used = 8;
  in.runtime_bytes = 20 << 20;
  PlacementOptions o;  // auto everything
  auto all = make_placement_plan(o, in);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->n_resident(), 4);  // no budget: all resident
  EXPECT_FALSE(all->experts_streamed);

  o.ram_budget_bytes = 300 << 20;  // globals 50 + dense 40 + runtime 20 = 110: 190 for experts
  auto p = make_placement_plan(o, in);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_EQ(p->n_resident(), 0);
  EXPECT_TRUE(p->experts_streamed);
  EXPECT_EQ(p->n_slots, 0);  // no whole-layer slots
  EXPECT_EQ(p->expert_slots, 190);
  EXPECT_EQ(p->streamed_experts, 360);
  EXPECT_EQ(p->device_bytes + in.runtime_bytes, 300u << 20);
  EXPECT_EQ(p->disk_bytes, 4u * (90 << 20));
  EXPECT_NE(p->describe().find("expert cache 190"), std::string::npos) << p->describe();

  o.ram_budget_bytes = 2000 << 20;  // everything fits: all resident
  p = make_placement_plan(o, in);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->n_resident(), 4);

  o.ram_budget_bytes = 115 << 20;  // room for 5 experts, fewer than a token's 8
  p = make_placement_plan(o, in);
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("--ram-budget"), std::string::npos);

  o.ram_budget_bytes = 0;
  o.gpu_layers = 2;
  p = make_placement_plan(o, in);  // no budget: as many bytes as two whole-layer slots
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->expert_slots, 180);
  o.expert_cache_bytes = 12 << 20;
  p = make_placement_plan(o, in);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->expert_slots, 12);
  o.expert_cache_bytes = 1000;  // smaller than one expert
  p = make_placement_plan(o, in);
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("--expert-cache"), std::string::npos);
  o.expert_cache_bytes = 0;
  o.stream_experts = false;
  p = make_placement_plan(o, in);
  ASSERT_TRUE(p.is_ok());
  EXPECT_FALSE(p->experts_streamed);
  EXPECT_EQ(p->n_slots, 2);
}

// A RAM budget with default options runs the model streaming experts, with the same text as
// all resident and peak RSS within the budget's reach.
TEST_F(ExpertStreaming, RamBudgetWithDefaultOptions) {
  const RunResult ref = generate(qwen_, {.gpu_layers = -1});
  ASSERT_TRUE(ref.ok);
  auto src = open_model(qwen_);
  ASSERT_TRUE(src.is_ok());
  // The largest budget under which not every layer fits: walk down from one that fits all.
  auto plan_at = [&](uint64_t budget) {
    EngineOptions eo;
    eo.model_path = qwen_;
    eo.tokenizer_path = test::kStoriesGguf;
    eo.n_ctx = 64;
    eo.placement.ram_budget_bytes = budget;
    auto e = Engine::open(eo);
    return e.is_ok() ? (*e)->store().plan() : PlacementPlan{};
  };
  uint64_t budget = current_rss_bytes() + (16ull << 20);
  ASSERT_EQ(plan_at(budget).n_resident(), src->config.n_layer);
  PlacementPlan p;
  for (int i = 0; i < 200 && !p.experts_streamed; ++i) {
    budget -= 64 << 10;
    p = plan_at(budget);
  }
  ASSERT_TRUE(p.experts_streamed) << "no budget between all-resident and nothing fits";
  const RunResult r = generate(qwen_, {.gpu_layers = -1, .prefetch = -1, .ram_budget = budget});
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.plan.experts_streamed);
  EXPECT_EQ(r.plan.n_resident(), 0);
  EXPECT_LT(r.plan.expert_slots, r.plan.streamed_experts);
  EXPECT_GE(r.plan.expert_slots, src->config.n_expert_used);
  EXPECT_EQ(r.text, ref.text);
  ASSERT_EQ(r.logits.size(), ref.logits.size());
  EXPECT_EQ(std::memcmp(r.logits.data(), ref.logits.data(), ref.logits.size() * sizeof(float)), 0);
}

// Fails every read once armed, as a disk that dies after start-up would.
class DyingReader final : public FileReader {
 public:
  explicit DyingReader(std::unique_ptr<FileReader> inner) : inner_(std::move(inner)) {}
  Status read(std::span<const ReadRequest> requests) override {
    for (const ReadRequest& r : requests) {
      if (armed && r.offset < hi && r.offset + r.nbytes > lo)
        return Status::errorf("{}: input/output error (injected)", path);
    }
    return inner_->read(requests);
  }
  std::string describe() const override { return "dying " + inner_->describe(); }
  uint64_t file_size(uint32_t i) const override { return inner_->file_size(i); }
  std::atomic<bool> armed{false};
  std::string path;
  uint64_t lo = 0, hi = 0;  // reads touching [lo, hi) fail once armed

 private:
  std::unique_ptr<FileReader> inner_;
};

// A disk that fails mid-run: forward() returns the reader's error with the layer and expert,
// the next call fails the same way, and nothing hangs.
TEST_F(ExpertStreaming, ReadErrorsAreErrors) {
  auto src = open_model(qwen_);
  ASSERT_TRUE(src.is_ok());
  auto device = make_cpu_device();
  PlacementOptions po;
  po.gpu_layers = 0;
  po.offload_to = "disk";
  po.auto_pack = false;
  auto inner = make_file_reader(src->index.files, ReaderOptions{});
  ASSERT_TRUE(inner.is_ok());
  auto reader = std::make_unique<DyingReader>(std::move(inner).value());
  reader->path = qwen_;
  // The experts' bytes: from layer 0's first expert tensor to the last layer's last.
  reader->lo = src->index.find("blk.0.ffn_gate_exps.weight")->offset;
  const TensorInfo* last =
      src->index.find("blk." + std::to_string(src->config.n_layer - 1) + ".ffn_down_exps.weight");
  reader->hi = last->offset + last->nbytes;
  DyingReader* dying = reader.get();
  auto store = StreamingStore::create(*src, po, *device, 0, std::move(reader));
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  ASSERT_TRUE((*store)->plan().experts_streamed);
  dying->armed = true;
  ThreadPool pool(2);
  Transformer tf(src->config, **store, pool, 32);
  std::vector<float> logits(src->config.n_vocab);
  const std::vector<int32_t> ids = {1, 2, 3};
  for (int i = 0; i < 2; ++i) {
    Status s = tf.forward(ids, 0, logits.data(), false);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find(qwen_), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("layer 0, expert"), std::string::npos) << s.message();
  }
  dying->armed = false;  // the disk is back: the same cache recovers
  EXPECT_TRUE(tf.forward(ids, 0, logits.data(), false).is_ok());
}

}  // namespace
}  // namespace strata
