// The fuzzers' seed corpora (fuzz/corpus/) are generated here, so they stay valid as the
// writers evolve: the test fails if a committed seed differs from what the generator makes
// or stops parsing. To regenerate: STRATA_UPDATE_FUZZ_SEEDS=1 ./format_tests
// --gtest_filter='FuzzSeeds.*'

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "format/format_test_util.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "format/safetensors.h"
#include "format/safetensors_writer.h"

namespace strata {
namespace {

const std::string kCorpus = std::string(STRATA_SOURCE_DIR) + "/fuzz/corpus";
const std::string kStories =
    std::string(STRATA_DATA) + "/models/stories260K.gguf";

std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 0.25f * static_cast<float>(i) - 1.0f;
  return v;
}

// Every metadata value type, nested arrays, an explicit alignment and three float types.
GgufWriter small_gguf() {
  GgufWriter w;
  w.set("general.architecture", MetaValue::of_string("llama"));
  w.set("general.name", MetaValue::of_string("seed"));
  w.set("llama.block_count", MetaValue::of_u32(1));
  w.set("llama.embedding_length", MetaValue::of_u64(8));
  w.set("llama.rope.freq_base", MetaValue::of_f32(10000.0f));
  w.set("llama.attention.layer_norm_rms_epsilon", MetaValue::of_f32(1e-5f));
  w.set("general.flag", MetaValue::of_bool(true));
  w.set("general.offset", MetaValue::of_i32(-3));
  MetaValue u8, i8, u16, i16, i64, f64;
  u8.type = MetaType::kU8, u8.u = 7;
  i8.type = MetaType::kI8, i8.i = -7;
  u16.type = MetaType::kU16, u16.u = 700;
  i16.type = MetaType::kI16, i16.i = -700;
  i64.type = MetaType::kI64, i64.i = -70000000000;
  f64.type = MetaType::kF64, f64.f = 0.5;
  w.set("t.u8", u8);
  w.set("t.i8", i8);
  w.set("t.u16", u16);
  w.set("t.i16", i16);
  w.set("t.i64", i64);
  w.set("t.f64", f64);
  w.set("tokenizer.ggml.tokens",
        MetaValue::of_array(
            MetaType::kString,
            {MetaValue::of_string("<s>"), MetaValue::of_string("a"), MetaValue::of_string("b")}));
  w.set("tokenizer.ggml.scores",
        MetaValue::of_array(MetaType::kF32,
                            {MetaValue::of_f32(0), MetaValue::of_f32(-1), MetaValue::of_f32(-2)}));
  w.set("t.nested",
        MetaValue::of_array(
            MetaType::kArray,
            {MetaValue::of_array(MetaType::kI32, {MetaValue::of_i32(1), MetaValue::of_i32(2)}),
             MetaValue::of_array(MetaType::kI32, {MetaValue::of_i32(3)})}));
  w.set("general.alignment", MetaValue::of_u32(16));
  w.add_tensor_f32("token_embd.weight", DType::kF32, {3, 4}, ramp(12));
  w.add_tensor_f32("blk.0.attn_norm.weight", DType::kF16, {4}, ramp(4));
  w.add_tensor_f32("output.weight", DType::kBF16, {3, 4}, ramp(12));
  return w;
}

// The real stories260K metadata with the vocabulary cut to 48 entries, and tiny tensors.
Result<GgufWriter> stories_gguf() {
  STRATA_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(kStories));
  GgufWriter w;
  for (auto& [key, value] : g.meta) {
    MetaValue v = value;
    if (v.type == MetaType::kArray && v.arr.size() > 48) v.arr.resize(48);
    w.set(key, std::move(v));
  }
  w.add_tensor_f32("token_embd.weight", DType::kF32, {2, 8}, ramp(16));
  w.add_tensor_f32("blk.0.attn_q.weight", DType::kF32, {2, 2}, ramp(4));
  return w;
}

SafetensorsWriter small_safetensors() {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.add_tensor_f32("model.embed_tokens.weight", DType::kF32, {3, 4}, ramp(12));
  w.add_tensor_f32("model.norm.weight", DType::kF16, {4}, ramp(4));
  w.add_tensor_f32("lm_head.weight", DType::kBF16, {3, 4}, ramp(12));
  w.add_tensor_raw("position_ids", "I64", {2}, std::string(16, '\x02'));
  w.add_tensor_raw("mask", "BOOL", {1, 3}, std::string("\x01\x00\x01", 3));
  w.add_tensor_f32("empty", DType::kF32, {0, 2}, {});
  return w;
}

struct Seed {
  std::string rel_path;  // under fuzz/corpus
  std::string bytes;
};

std::vector<Seed> generate_seeds() {
  test_util::ScratchDir dir;
  std::vector<Seed> seeds;
  auto add = [&](const std::string& rel, const Status& written) {
    EXPECT_TRUE(written.is_ok()) << rel << ": " << written.message();
    seeds.push_back({rel, test_util::read_bytes(dir.file("seed"))});
  };
  add("gguf/small.gguf", small_gguf().write(dir.file("seed"), 16));
  auto stories = stories_gguf();
  EXPECT_TRUE(stories.is_ok()) << stories.status().message();
  if (stories.is_ok()) add("gguf/stories-meta.gguf", stories->write(dir.file("seed")));
  add("safetensors/small.safetensors", small_safetensors().write(dir.file("seed")));
  // The second view of safetensors_fuzz: "JSON header, NUL, data" (no length prefix).
  const std::string small = seeds.back().bytes;
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, small.data(), 8);
  seeds.push_back({"safetensors/small.json0data",
                   small.substr(8, header_bytes) + '\0' + small.substr(8 + header_bytes)});
  SafetensorsWriter meta_only;
  meta_only.set_metadata("format", "pt");
  meta_only.set_metadata("note", "no tensors");
  add("safetensors/metadata-only.safetensors", meta_only.write(dir.file("seed")));
  return seeds;
}

TEST(FuzzSeeds, MatchTheGenerator) {
  const bool update = std::getenv("STRATA_UPDATE_FUZZ_SEEDS") != nullptr;
  for (const Seed& s : generate_seeds()) {
    const std::string path = kCorpus + "/" + s.rel_path;
    EXPECT_LE(s.bytes.size(), 20000u) << s.rel_path << ": seeds should stay small";
    if (update) {
      std::filesystem::create_directories(std::filesystem::path(path).parent_path());
      test_util::write_bytes(path, s.bytes);
      continue;
    }
    EXPECT_TRUE(test_util::read_bytes(path) == s.bytes)
        << path << " is stale or missing: rerun with STRATA_UPDATE_FUZZ_SEEDS=1";
  }
}

TEST(FuzzSeeds, AllParse) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(kCorpus + "/gguf")) {
    auto r = parse_gguf(e.path().string());
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    ++n;
  }
  for (const auto& e : std::filesystem::directory_iterator(kCorpus + "/safetensors")) {
    if (e.path().extension() != ".safetensors") continue;
    auto r = parse_safetensors(e.path().string());
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    ++n;
  }
  EXPECT_GE(n, 4);
}

}  // namespace
}  // namespace strata
