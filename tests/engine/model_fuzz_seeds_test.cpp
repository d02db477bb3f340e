// The seeds of fuzz/model_fuzz (fuzz/corpus/model/) are generated here from the model writers,
// so they stay valid models as the writers and checks evolve: the test fails if a committed
// seed differs from what the generator makes or stops opening. To regenerate:
// STRATA_UPDATE_FUZZ_SEEDS=1 ./engine_tests --gtest_filter='ModelFuzzSeeds.*'

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/test_util.h"
#include "model/hf_config.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/shapes.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

const std::string kCorpus = std::string(STRATA_SOURCE_DIR) + "/fuzz/corpus/model";

// A shape's configuration shrunk so one layer with its vocabulary stays a few KiB.
ModelConfig small(const std::string& shape, int64_t n_expert = 0) {
  auto s = find_model_shape(shape, 1);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  ModelConfig c = s.is_ok() ? s->config : ModelConfig{};
  c.n_embd = 32;
  c.n_ff = 64;
  c.n_head = 2;
  c.n_head_kv = 1;
  c.head_dim = 16;
  c.n_vocab = 48;
  c.n_ctx_train = 64;
  if (n_expert > 0) {
    c.n_expert = n_expert;
    c.n_expert_used = 2;
    c.n_ff_exp = 32;
  }
  return c;
}

MetaValue strings(const std::vector<std::string>& items) {
  std::vector<MetaValue> v;
  for (const std::string& s : items) v.push_back(MetaValue::of_string(s));
  return MetaValue::of_array(MetaType::kString, std::move(v));
}

// A SentencePiece ("llama") vocabulary of 48 pieces: specials, byte fallbacks, words.
Metadata spm_vocab() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 16; ++b) tokens.push_back(fmt::format("<0x{:02X}>", b));
  for (const char* w : {"\xe2\x96\x81", "\xe2\x96\x81H", "e", "l", "o", "ll", "llo",
                        "\xe2\x96\x81w", "or", "ld", "!", "a", "b", "1", "2", "\xe2\x96\x81x"}) {
    tokens.push_back(w);
  }
  while (tokens.size() < 48) tokens.push_back(fmt::format("[PAD{}]", tokens.size()));
  std::vector<MetaValue> scores, types;
  for (size_t i = 0; i < tokens.size(); ++i) {
    scores.push_back(MetaValue::of_f32(-static_cast<float>(i)));
    const int type = i == 0 ? 2 : i < 3 ? 3 : i < 19 ? 6 : tokens[i][0] == '[' ? 5 : 1;
    types.push_back(MetaValue::of_i32(type));
  }
  Metadata m;
  m["tokenizer.ggml.model"] = MetaValue::of_string("llama");
  m["tokenizer.ggml.tokens"] = strings(tokens);
  m["tokenizer.ggml.scores"] = MetaValue::of_array(MetaType::kF32, std::move(scores));
  m["tokenizer.ggml.token_type"] = MetaValue::of_array(MetaType::kI32, std::move(types));
  m["tokenizer.ggml.bos_token_id"] = MetaValue::of_u32(1);
  m["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(2);
  m["tokenizer.ggml.add_bos_token"] = MetaValue::of_bool(true);
  return m;
}

// A byte-level ("gpt2") vocabulary of 48 tokens with merges, Qwen2's pre-tokenizer.
Metadata bpe_vocab() {
  std::vector<std::string> tokens = {"!",
                                     "H",
                                     "a",
                                     "b",
                                     "d",
                                     "e",
                                     "l",
                                     "o",
                                     "r",
                                     "w",
                                     "x",
                                     "1",
                                     "2",
                                     "\xc4\xa0",
                                     "\xc4\x8a",
                                     "ll",
                                     "llo",
                                     "He",
                                     "Hello",
                                     "\xc4\xa0w",
                                     "or",
                                     "\xc4\xa0wor",
                                     "\xc4\xa0world",
                                     "ld"};
  while (tokens.size() < 46) tokens.push_back(fmt::format("[PAD{}]", tokens.size()));
  tokens.push_back("<|endoftext|>");
  tokens.push_back("<|im_end|>");
  std::vector<MetaValue> types;
  for (size_t i = 0; i < tokens.size(); ++i) {
    types.push_back(MetaValue::of_i32(i >= 46 ? 3 : tokens[i][0] == '[' ? 5 : 1));
  }
  Metadata m;
  m["tokenizer.ggml.model"] = MetaValue::of_string("gpt2");
  m["tokenizer.ggml.pre"] = MetaValue::of_string("qwen2");
  m["tokenizer.ggml.tokens"] = strings(tokens);
  m["tokenizer.ggml.token_type"] = MetaValue::of_array(MetaType::kI32, std::move(types));
  m["tokenizer.ggml.merges"] = strings({"l l", "ll o", "H e", "He llo", "\xc4\xa0 w", "o r",
                                        "\xc4\xa0w or", "l d", "\xc4\xa0wor ld"});
  m["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(46);
  m["tokenizer.ggml.eot_token_id"] = MetaValue::of_u32(47);
  return m;
}

Result<std::string> gguf_bytes(const ModelConfig& c, Metadata vocab,
                               const std::vector<DType>& types) {
  RandomModelOptions o;
  o.seed = 1;
  o.extra_gguf_meta = std::move(vocab);
  // Each matrix a different type from `types`, in the order the writer asks.
  auto next = std::make_shared<size_t>(0);
  o.gguf_type_for = [types, next](const std::string&, int64_t) {
    return types[(*next)++ % types.size()];
  };
  o.gguf_file_type = gguf_file_type(types.front());
  const std::string dir = test::make_temp_dir("model_fuzz_seed");
  const std::string path = dir + "/seed.gguf";
  STRATA_TRY(write_random_gguf(c, o, path));
  std::string bytes = test::read_file(path);
  std::filesystem::remove_all(dir);
  return bytes;
}

// A llama2.c checkpoint: the 7-int header, then every weight in float32.
std::string llama2c_bytes() {
  const int32_t dim = 8, hidden = 16, layers = 1, heads = 2, kv_heads = 1, vocab = 16, seq = 4;
  const int32_t header[7] = {dim, hidden, layers, heads, kv_heads, -vocab, seq};  // own classifier
  const int64_t head = dim / heads, kv_dim = kv_heads * head;
  const int64_t n_floats =
      vocab * dim +
      layers * (dim + dim * dim + 2 * kv_dim * dim + dim * dim + dim + 3 * hidden * dim) + dim +
      seq * head + vocab * dim;  // rms_final, freq_cis, wcls
  std::vector<float> w(static_cast<size_t>(n_floats));
  random_normal(3, "llama2c", w.data(), n_floats);
  std::string out(reinterpret_cast<const char*>(header), sizeof(header));
  out.append(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(float));
  return out;
}

Result<std::string> hf_config_text(const ModelConfig& c) {
  const std::string dir = test::make_temp_dir("model_fuzz_seed");
  RandomModelOptions o;
  STRATA_TRY(write_random_hf(c, o, dir));
  std::string text = test::read_file(dir + "/config.json");
  std::filesystem::remove_all(dir);
  return text;
}

struct Seed {
  std::string name;
  std::string bytes;
};

std::vector<Seed> generate_seeds() {
  std::vector<Seed> seeds;
  auto add = [&](const std::string& name, Result<std::string> bytes) {
    EXPECT_TRUE(bytes.is_ok()) << name << ": " << bytes.status().message();
    if (bytes.is_ok()) seeds.push_back({name, std::move(bytes).value()});
  };
  // Every block type whose rows fit 32 elements, across the matrices of two layouts.
  add("llama3-spm.gguf", gguf_bytes(small("llama-3.2-1b"), spm_vocab(),
                                    {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kF16,
                                     DType::kIQ4_NL, DType::kQ5_1, DType::kBF16, DType::kQ4_1}));
  add("qwen2-bpe.gguf", gguf_bytes(small("qwen2.5-0.5b"), bpe_vocab(), {DType::kQ4_0}));
  add("qwen3moe-bpe.gguf",
      gguf_bytes(small("qwen3-30b-a3b", 4), bpe_vocab(), {DType::kQ4_1, DType::kIQ4_NL}));
  add("tiny.bin", llama2c_bytes());
  add("llama3.json", hf_config_text(small("llama-3.1-8b")));
  add("qwen3moe.json", hf_config_text(small("qwen3-30b-a3b", 4)));
  return seeds;
}

TEST(ModelFuzzSeeds, MatchTheGeneratorAndOpen) {
  const bool update = std::getenv("STRATA_UPDATE_FUZZ_SEEDS") != nullptr;
  const std::vector<Seed> seeds = generate_seeds();
  ASSERT_EQ(seeds.size(), 6u);
  for (const Seed& s : seeds) {
    SCOPED_TRACE(s.name);
    EXPECT_LE(s.bytes.size(), 20000u) << "seeds should stay small";
    const std::string path = kCorpus + "/" + s.name;
    if (update) {
      std::filesystem::create_directories(kCorpus);
      test::write_file(path, s.bytes);
    }
    EXPECT_TRUE(test::read_file(path) == s.bytes)
        << path << " is stale or missing: rerun with STRATA_UPDATE_FUZZ_SEEDS=1";
    // Each seed gets through everything the fuzz target calls, so mutations start deep.
    if (s.name.ends_with(".json")) {
      auto c = config_from_hf_json(nlohmann::json::parse(s.bytes), s.name);
      EXPECT_TRUE(c.is_ok()) << c.status().message();
      continue;
    }
    auto m = open_model_bytes(s.bytes, s.name);
    ASSERT_TRUE(m.is_ok()) << m.status().message();
    EXPECT_EQ(m->config.n_layer, 1);
    if (m->format != ModelFormat::kGguf) continue;
    EXPECT_EQ(m->config.n_vocab, 48);
    auto t = Tokenizer::from_gguf_metadata(m->meta, s.name);
    ASSERT_TRUE(t.is_ok()) << t.status().message();
    EXPECT_GT((*t)->encode("Hello world", false, false).size(), 1u);
  }
}

// open_model_bytes on bad bytes: an error that names the source and what is wrong, whichever
// format the first bytes chose.
TEST(OpenModelBytes, BadBytesNameTheSourceAndTheFault) {
  auto seed = gguf_bytes(small("llama-3.2-1b"), spm_vocab(), {DType::kQ8_0});
  ASSERT_TRUE(seed.is_ok()) << seed.status().message();
  struct Case {
    std::string bytes, want;
  };
  const Case cases[] = {
      {seed->substr(0, seed->size() / 2), "runs past the end of the file"},  // GGUF, in the data
      {seed->substr(0, 40), "metadata entries, more than"},                  // GGUF, in the header
      {std::string(28, '\xff'), "not a llama2.c checkpoint: dim = -1"},      // llama2.c
      {llama2c_bytes().substr(0, 1000), "truncated llama2.c checkpoint"}};
  for (const Case& c : cases) {
    auto m = open_model_bytes(c.bytes, "model.gguf");
    ASSERT_FALSE(m.is_ok()) << c.want;
    EXPECT_NE(m.status().message().find("model.gguf"), std::string::npos) << m.status().message();
    EXPECT_NE(m.status().message().find(c.want), std::string::npos) << m.status().message();
  }
}

}  // namespace
}  // namespace strata
