// Placement never changes results: logits are bit-identical whether a layer is resident,
// streamed from RAM or from disk, with any prefetch depth, on the CPU or the simulated device.
#include "store/placement.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/quantize.h"
#include "model/shapes.h"
#include "store/layer_pack.h"
#include "strata/engine.h"

namespace strata {
namespace {

struct Config {
  int64_t gpu_layers;
  std::string offload;
  int prefetch;
  std::string device = "cpu";
  bool direct_io = true;
  ResidentPolicy keep = ResidentPolicy::kFirst;
  std::string pack;  // stream from this layer pack
  std::string head = "auto";
  std::string name() const {
    return fmt::format("ngl={} offload={} prefetch={} device={} keep={}{} head={}", gpu_layers,
                       offload, prefetch, device, static_cast<int>(keep),
                       pack.empty() ? "" : " pack", head);
  }
};

// Greedy generation of `n` tokens; returns every logit row (prompt and decode).
std::vector<float> logits_for(const std::string& model, const Config& c, const std::string& prompt,
                              int n, std::string* text, int64_t* streamed_per_token = nullptr,
                              const std::string& tokenizer = "") {
  EngineOptions eo;
  eo.model_path = model;
  eo.tokenizer_path = tokenizer;
  eo.n_threads = 2;
  eo.n_ctx = 64;
  eo.placement.gpu_layers = c.gpu_layers;
  eo.placement.offload_to = c.offload;
  eo.placement.prefetch = c.prefetch;
  eo.placement.device = c.device;
  eo.placement.auto_pack = false;
  eo.placement.io.direct = c.direct_io;
  eo.placement.keep = c.keep;
  eo.placement.pack_dir = c.pack;
  eo.placement.output_head = c.head;
  if (c.device == "sim") eo.placement.sim.bandwidth_gbps = 2.0;
  auto e = Engine::open(eo);
  EXPECT_TRUE(e.is_ok()) << c.name() << ": " << e.status().message();
  if (!e.is_ok()) return {};
  GenerateOptions go;
  go.prompt = prompt;
  go.n_predict = n;
  go.sampling.temperature = 0;
  go.ignore_eos = true;
  std::vector<float> all;
  go.on_logits = [&](const float* l, int64_t v) { all.insert(all.end(), l, l + v); };
  GenerateStats st;
  text->clear();
  Status s = (*e)->generate(
      go,
      [&](std::string_view t) {
        text->append(t);
        return true;
      },
      &st);
  EXPECT_TRUE(s.is_ok()) << c.name() << ": " << s.message();
  if (streamed_per_token)
    *streamed_per_token = static_cast<int64_t>(summarize_stream(st).bytes_per_token);
  return all;
}

void expect_bit_identical(const std::string& model, int64_t n_layer, const std::string& prompt,
                          int n, const std::vector<Config>& configs,
                          const std::string& tokenizer = "") {
  std::string ref_text;
  std::vector<float> ref = logits_for(model, {n_layer, "ram", 1, "cpu", configs[0].direct_io},
                                      prompt, n, &ref_text, nullptr, tokenizer);
  ASSERT_FALSE(ref.empty());
  for (const Config& c : configs) {
    std::string text;
    std::vector<float> got = logits_for(model, c, prompt, n, &text, nullptr, tokenizer);
    ASSERT_EQ(got.size(), ref.size()) << c.name();
    EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
        << c.name() << ": logits differ from all-resident";
    EXPECT_EQ(text, ref_text) << c.name();
  }
}

TEST(Placement, Stories260KBitIdenticalEverywhere) {
  std::vector<Config> configs;
  for (int64_t n : {0, 1, 2, 3, 4, 5}) {
    for (const char* off : {"ram", "disk"}) {
      for (int k : {0, 1, 2}) configs.push_back({n, off, k});
    }
  }
  configs.push_back({0, "disk", 1, "sim"});
  configs.push_back({2, "ram", 2, "sim"});
  configs.push_back({3, "disk", 0, "sim"});
  for (ResidentPolicy keep : {ResidentPolicy::kFirstLast, ResidentPolicy::kSpread}) {
    for (int64_t n : {1, 2, 3}) configs.push_back({n, "disk", 1, "cpu", true, keep});
    configs.push_back({2, "ram", 2, "sim", true, keep});
  }
  expect_bit_identical(test::kStoriesGguf, 5, "Once upon a time", 12, configs);
}

TEST(Placement, ResidentPoliciesChooseTheLayers) {
  PlanInputs in;
  in.layer_bytes.assign(16, 100);
  in.slot_bytes = 100;
  auto tiers = [&](ResidentPolicy keep, int64_t resident) {
    PlacementOptions o;
    o.gpu_layers = resident;
    o.offload_to = "disk";
    o.keep = keep;
    auto p = make_placement_plan(o, in);
    EXPECT_TRUE(p.is_ok()) << p.status().message();
    std::string map;
    for (Tier t : p->layer_tier) map += t == Tier::kDevice ? 'D' : 'S';
    return map;
  };
  EXPECT_EQ(tiers(ResidentPolicy::kFirst, 12), "DDDDDDDDDDDDSSSS");
  EXPECT_EQ(tiers(ResidentPolicy::kFirstLast, 12), "DDDDDDSSSSDDDDDD");
  EXPECT_EQ(tiers(ResidentPolicy::kSpread, 12), "DDDSDDDSDDDSDDDS");
  EXPECT_EQ(tiers(ResidentPolicy::kSpread, 8), "DSDSDSDSDSDSDSDS");
  EXPECT_EQ(tiers(ResidentPolicy::kSpread, 4), "SSDSSSDSSSDSSSDS");
  EXPECT_EQ(tiers(ResidentPolicy::kSpread, 0), "SSSSSSSSSSSSSSSS");
  EXPECT_EQ(tiers(ResidentPolicy::kSpread, 16), "DDDDDDDDDDDDDDDD");
}

// --prefetch auto: two slots while they fit; one slot (load just before use) only when a
// second does not fit even with every layer streamed; an error when even one does not.
TEST(Placement, AutoPrefetchFallsBackToOneSlotUnderABudget) {
  PlanInputs in;
  in.layer_bytes.assign(8, 100);
  in.slot_bytes = 100;
  in.globals_bytes = 50;
  in.runtime_bytes = 30;
  auto plan = [&](uint64_t budget) {
    PlacementOptions o;  // gpu_layers and prefetch auto
    o.offload_to = "disk";
    o.ram_budget_bytes = budget;
    return make_placement_plan(o, in);
  };
  auto roomy = plan(50 + 30 + 3 * 100 + 2 * 100);  // 3 resident + 2 slots
  ASSERT_TRUE(roomy.is_ok()) << roomy.status().message();
  EXPECT_EQ(roomy->prefetch, 1);
  EXPECT_EQ(roomy->n_resident(), 3);
  auto tight = plan(50 + 30 + 150);  // 1 slot fits, 2 do not
  ASSERT_TRUE(tight.is_ok()) << tight.status().message();
  EXPECT_EQ(tight->prefetch, 0);
  EXPECT_EQ(tight->n_slots, 1);
  EXPECT_EQ(tight->n_resident(), 0);
  EXPECT_NE(tight->auto_note.find("--prefetch auto chose 0"), std::string::npos);
  EXPECT_FALSE(plan(50 + 30 + 99).is_ok());
  PlacementOptions fixed;
  fixed.offload_to = "disk";
  fixed.prefetch = 1;
  fixed.ram_budget_bytes = 50 + 30 + 150;
  EXPECT_FALSE(make_placement_plan(fixed, in).is_ok());  // an explicit prefetch is kept
}

TEST(Placement, StreamedBytesAreTheStreamedLayersSizes) {
  std::string text;
  int64_t per_token = 0;
  logits_for(test::kStoriesGguf, {2, "disk", 1}, "Once upon a time", 6, &text, &per_token);
  // 3 streamed layers of stories260K, F32: 2 norms + q, o + k, v + 3 FFN matrices.
  const int64_t layer = (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64) * 4;
  EXPECT_EQ(per_token, 3 * layer);
}

// A quantized file as people download it: llama.cpp's Q4_K_M mix (Q4_K with Q6_K attn_v,
// ffn_down and output head, F32 norms). Streaming moves the file's quantized bytes, from the
// file or a layer pack, and placement never changes a bit.
TEST(Placement, QuantizedMixBitIdenticalEverywhereAndStreamsTheFilesBytes) {
  const std::string dir = test::make_temp_dir("quantized-placement");
  const std::string model = test::make_quantized_tiny(dir, "Q4_K_M", 4);
  auto m = open_model(model);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  ASSERT_TRUE(write_layer_pack(*m, dir + "/pack", nullptr).is_ok());

  std::vector<Config> configs = {{0, "ram", 1},
                                 {4, "disk", 1},
                                 {4, "disk", 0},
                                 {2, "disk", 2},
                                 {6, "ram", 1},
                                 {4, "ram", 1, "sim"},
                                 {4, "disk", 1, "cpu", false}};
  Config packed{4, "disk", 1};
  packed.pack = dir + "/pack";
  configs.push_back(packed);
  expect_bit_identical(model, 8, "Once upon a time", 4, configs, test::kStoriesGguf);

  // keep=first with 4 resident: layers 4..7 stream, each token reads exactly their tensors.
  int64_t layer_bytes = 0;
  for (const TensorInfo& t : m->index.tensors()) {
    if (t.name.rfind("blk.", 0) == 0 && std::stoi(t.name.substr(4)) >= 4) layer_bytes += t.nbytes;
  }
  for (const Config& c : {Config{4, "disk", 1}, packed}) {
    std::string text;
    int64_t per_token = 0;
    logits_for(model, c, "Once upon a time", 3, &text, &per_token, test::kStoriesGguf);
    EXPECT_EQ(per_token, layer_bytes) << c.name();
  }
  std::filesystem::remove_all(dir);
}

// The peak RSS a run's stats line reports ("peak RSS 712.3 MiB"), in bytes; -1 if absent.
double peak_rss_of(const std::string& out) {
  const size_t at = out.find("peak RSS ");
  if (at == std::string::npos) return -1;
  const double v = std::stod(out.substr(at + 9));
  const std::string unit = out.substr(out.find(' ', at + 9) + 1, 3);
  return v * (unit == "GiB" ? 1073741824.0 : 1048576.0);
}

// The large checks: a random-weight model of Llama-3.2-1B's shape (16 layers, 2048
// hidden, GQA 32/8, 8192 FFN, tied 128,256-token embedding) in F16, written once per run.
class Llama1BShape : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::make_temp_dir("l1b");
    ModelConfig c;
    c.arch = Arch::kLlama;
    c.arch_name = "llama";
    c.n_layer = 16;
    c.n_embd = 2048;
    c.n_head = 32;
    c.n_head_kv = 8;
    c.head_dim = 64;
    c.n_ff = 8192;
    c.n_vocab = 128256;
    c.n_ctx_train = 131072;
    c.rope_theta = 500000.0f;
    c.tied_embeddings = true;
    c.llama3_rope_scaling = true;
    c.rope_factor = 32.0f;
    c.rope_original_ctx = 8192;
    RandomModelOptions o;
    o.dtype = DType::kF16;
    o.seed = 7;
    path_ = dir_ + "/llama-3.2-1b-shape.gguf";
    Status s = write_random_gguf(c, o, path_);
    ASSERT_TRUE(s.is_ok()) << s.message();
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static inline std::string dir_, path_;
  // The random model carries no vocabulary: use the real Llama 3 tokenizer (128,256 ids).
  static inline const std::string kTokenizer =
      test::kData + "/tokenizers/llama3/tokenizer.json.zst";
};

// One test, so ctest (which runs each test in its own process) writes the 2.5 GB model once.
TEST_F(Llama1BShape, BitIdenticalForEveryPlacementAndRamBudgetHolds) {
  // Through the page cache: each configuration reads the 2.5 GB model again, and direct
  // reads on this disk are slow. Direct I/O itself is covered by the stories260K test above.
  std::vector<Config> configs;
  for (int64_t n : {0, 4, 8, 12}) {
    for (const char* off : {"ram", "disk"}) configs.push_back({n, off, 1, "cpu", false});
  }
  configs.push_back({8, "disk", 0, "cpu", false});
  configs.push_back({8, "disk", 2, "cpu", false});
  configs.push_back({8, "ram", 2, "cpu", false});
  configs.push_back({8, "disk", 1, "cpu", false, ResidentPolicy::kFirst});
  configs.push_back({4, "disk", 1, "cpu", false, ResidentPolicy::kFirstLast});
  configs.push_back({8, "ram", 1, "sim", false});
  // The head (128,256 rows, 32 chunks, the last one short) streamed, embedding rows read.
  configs.push_back({16, "disk", 1, "cpu", false, ResidentPolicy::kSpread, "", "stream"});
  configs.push_back({4, "disk", 0, "cpu", false, ResidentPolicy::kSpread, "", "stream"});
  expect_bit_identical(path_, 16, "The tiered store keeps", 2, configs, kTokenizer);

  // Peak RSS with --ram-budget at a third of the model's size stays under budget + 10%, and
  // the model still runs (in a fresh process, so the peak is this run's own).
  const uint64_t model_bytes = std::filesystem::file_size(path_);
  const uint64_t budget = model_bytes / 3;
  int code = -1;
  std::string out = test::run_command(
      std::string(STRATA_BINARY) + " run -m " + path_ + " --tokenizer " + kTokenizer +
          " -p 'Hello' -n 3 --temp 0 --ignore-eos -c 64 -b 32 --prefetch 0 --ram-budget " +
          std::to_string(budget) + " 2>&1",
      &code);
  ASSERT_EQ(code, 0) << out;
  double peak = peak_rss_of(out);
  ASSERT_GT(peak, 0) << out;
  EXPECT_LT(peak, budget * 1.10) << out;
  RecordProperty("peak_rss_bytes", std::to_string(static_cast<uint64_t>(peak)));
  RecordProperty("ram_budget_bytes", std::to_string(budget));
  std::printf("ram budget %.1f MiB, peak RSS %.1f MiB\n", budget / 1048576.0, peak / 1048576.0);
  EXPECT_NE(out.find("streamed from disk"), std::string::npos) << out;

  // A sixth of the model, every option left to strata: the 501 MiB head cannot stay resident,
  // so it streams in row chunks and the embedding's rows are read as tokens need them.
  const uint64_t small = model_bytes / 6;
  out = test::run_command(std::string(STRATA_BINARY) + " run -m " + path_ + " --tokenizer " +
                              kTokenizer + " -p 'Hello' -n 3 --temp 0 --ignore-eos --ram-budget " +
                              std::to_string(small) + " 2>&1",
                          &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("output head streamed from disk"), std::string::npos) << out;
  peak = peak_rss_of(out);
  ASSERT_GT(peak, 0) << out;
  EXPECT_LT(peak, small * 1.10) << out;
  std::printf("ram budget %.1f MiB (head streamed), peak RSS %.1f MiB\n", small / 1048576.0,
              peak / 1048576.0);

  // A context whose F16 KV cache (1 GiB at 32,768 positions) alone exceeds the budget: with
  // -c given, auto keeps it and moves the cache to disk, two layers' windows in RAM.
  const std::string kv_dir = dir_ + "/kv";
  std::filesystem::create_directories(kv_dir);
  out = test::run_command(std::string(STRATA_BINARY) + " run -m " + path_ + " --tokenizer " +
                              kTokenizer + " -p 'Hello' -n 3 --temp 0 --ignore-eos -c 32768 " +
                              "--kv-dir " + kv_dir + " --ram-budget " + std::to_string(budget) +
                              " 2>&1",
                          &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("KV cache on disk"), std::string::npos) << out;
  EXPECT_NE(out.find("read/token"), std::string::npos) << out;
  peak = peak_rss_of(out);
  ASSERT_GT(peak, 0) << out;
  EXPECT_LT(peak, budget * 1.10) << out;
  std::printf("ram budget %.1f MiB (-c 32768, KV on disk), peak RSS %.1f MiB\n", budget / 1048576.0,
              peak / 1048576.0);
  EXPECT_TRUE(std::filesystem::is_empty(kv_dir));  // the unnamed file left nothing
}

}  // namespace
}  // namespace strata
