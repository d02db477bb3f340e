// Malformed vocabularies give an error Status naming the file; nothing crashes or throws.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "format/gguf_writer.h"
#include "tokenizer/fixtures_util.h"

namespace strata::testing {
namespace {

namespace fs = std::filesystem;

class Malformed : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("strata_tok_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // Loads `path` and expects an error that names it and contains `what`.
  void expect_error(const Result<std::unique_ptr<Tokenizer>>& r, const std::string& path,
                    const std::string& what) {
    ASSERT_FALSE(r.is_ok()) << "loaded " << path << " (expected an error with '" << what << "')";
    EXPECT_NE(r.status().message().find(fs::path(path).filename().string()), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find(what), std::string::npos)
        << r.status().message() << "\n  (expected '" << what << "')";
  }
  void expect_json_error(const std::string& json, const std::string& what,
                         const std::string& config = "") {
    const std::string config_path = config.empty() ? "" : write("tokenizer_config.json", config);
    const std::string path = write("tokenizer.json", json);
    // An error in the config names the config.
    expect_error(Tokenizer::from_tokenizer_json(path), config.empty() ? path : config_path, what);
    fs::remove(dir_ / "tokenizer_config.json");
  }

  fs::path dir_;
};

// A tiny valid byte-level BPE tokenizer.json, with parts replaceable by the tests.
std::string tiny_json(
    const std::string& vocab = R"({"a": 0, "b": 1, "ab": 2, "Ġ": 3})",
    const std::string& merges = R"(["a b"])",
    const std::string& added = R"([{"id": 4, "content": "<s>", "special": true}])",
    const std::string& model_type = "BPE",
    const std::string& pre = R"({"type": "ByteLevel", "add_prefix_space": false,
                                                   "use_regex": true})") {
  return R"({"version": "1.0", "added_tokens": )" + added +
         R"(, "normalizer": null, "pre_tokenizer": )" + pre + R"(, "model": {"type": ")" +
         model_type + R"(", "vocab": )" + vocab + R"(, "merges": )" + merges + "}}";
}

TEST_F(Malformed, TinyJsonIsValid) {
  const std::string path = write("tokenizer.json", tiny_json());
  auto r = Tokenizer::from_tokenizer_json(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)->encode("ab aab", false), (std::vector<int32_t>{2, 3, 0, 2}));
  EXPECT_EQ((*r)->encode("<s>", false, true), (std::vector<int32_t>{4}));
  auto dir = Tokenizer::from_file(dir_.string());
  ASSERT_TRUE(dir.is_ok()) << dir.status().message();
}

TEST_F(Malformed, TokenizerJson) {
  const std::string full = tiny_json();
  expect_json_error(full.substr(0, full.size() / 2), "not valid JSON");
  expect_json_error("", "not valid JSON");
  expect_json_error("[1, 2]", "top level");
  expect_json_error(R"({"pre_tokenizer": {"type": "ByteLevel"},
                        "model": {"type": "BPE", "vocab": {"a": 0}}})",
                    "without merges");
  expect_json_error(tiny_json(R"({"a": 0, "b": 1, "ab": 2})", R"(["a c"])", "[]"), "'c'");
  expect_json_error(tiny_json(R"({"a": 0, "b": 1})", R"(["a b"])", "[]"), "'ab'");
  expect_json_error(tiny_json(R"({"a": 0, "b": 0, "ab": 2})"), "used twice");
  expect_json_error(tiny_json(R"({"a": "zero", "b": 1, "ab": 2})"), "integer id");
  expect_json_error(tiny_json(R"({"a": 0, "b": 1, "ab": 2, "x": 1000000})"), "out of range");
  expect_json_error(tiny_json(R"({"a": 0, "b": 1, "ab": 2, "x": -1})"), "out of range");
  expect_json_error(tiny_json(R"({"a": 0, "b": 1, "ab": 2})", R"([[1, 2]])"), "merges[0]");
  expect_json_error(tiny_json(R"({"a": 0, "b": 1, "ab": 2})", R"(["ab"])"), "merges[0]");
  expect_json_error(
      tiny_json(R"({"a": 0, "b": 1, "ab": 2})", R"(["a b"])", R"([{"id": 77, "content": "<s>"}])"),
      "out of range");
  expect_json_error(
      tiny_json(R"({"a": 0, "b": 1, "ab": 2})", R"(["a b"])", R"([{"id": 1, "content": "<s>"}])"),
      "reuses id 1");
  expect_json_error(tiny_json(R"({"a": 0, "b": 1, "ab": 2})", R"(["a b"])", "[{}]"),
                    "added_tokens entry");
  expect_json_error(tiny_json(R"({"a": 0})", "[]", "[]", "Unigram"), "not supported");
  expect_json_error(tiny_json(R"({"a": 0})", "[]", "[]", "BPE", "null"),
                    "neither a byte-level BPE");
  expect_json_error(tiny_json(R"({"a": 0})", "[]", "[]", "BPE",
                              R"({"type": "Sequence", "pretokenizers": [
                                   {"type": "Split", "pattern": {"Regex": "(unclosed"},
                                    "behavior": "Isolated", "invert": false},
                                   {"type": "ByteLevel", "use_regex": false}]})"),
                    "does not compile");
  expect_json_error(tiny_json(R"({"a": 0})", "[]", "[]", "BPE", R"({"type": "Whitespace"})"),
                    "Whitespace");
  expect_json_error(tiny_json(), "'<nope>' is not in the vocabulary", R"({"bos_token": "<nope>"})");
  expect_json_error(tiny_json(), "not valid JSON", R"({"bos_token": )");
  // Wrong JSON types where objects or strings are expected.
  expect_json_error(tiny_json(R"({"a": 0})", "[]", "[]", "BPE", R"({"type": "ByteLevel",
                              "add_prefix_space": "yes"})"),
                    "tokenizer.json");
}

// Every truncation of a tokenizer.json and random corruptions of tok512.bin load or fail
// cleanly; whatever loads can encode and decode.
TEST_F(Malformed, CorruptionSweep) {
  const std::string json = tiny_json();
  for (size_t n = 0; n < json.size(); ++n) {
    const std::string path = write("tokenizer.json", json.substr(0, n));
    auto r = Tokenizer::from_tokenizer_json(path);
    EXPECT_FALSE(r.is_ok()) << n;
  }
  const std::string good = read_all(kTestData + "/models/tok512.bin");
  std::mt19937 rng(5);
  int loaded = 0;
  for (int k = 0; k < 300; ++k) {
    std::string bad = good;
    for (int flips = 1 + rng() % 4; flips > 0; --flips) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    const std::string path = write("tok.bin", bad);
    auto r = Tokenizer::from_llama2c(path, k % 2 ? 512 : 0);
    if (r.is_ok()) {
      ++loaded;
      const auto ids = (*r)->encode("Once upon a time \xff 中", true);
      EXPECT_FALSE(ids.empty());
      (void)(*r)->decode(ids);
    } else {
      EXPECT_NE(r.status().message().find("tok.bin"), std::string::npos);
    }
  }
  EXPECT_GT(loaded, 0);  // most flips hit scores or piece bytes, which stay loadable
}

TEST_F(Malformed, MissingFiles) {
  const std::string path = (dir_ / "nope.json").string();
  expect_error(Tokenizer::from_tokenizer_json(path), path, "");
  expect_error(Tokenizer::from_llama2c(path, 512), path, "");
  expect_error(Tokenizer::from_file(path), path, "");
  expect_error(Tokenizer::from_file(dir_.string()), dir_.string(), "without tokenizer.json");
}

TEST_F(Malformed, Llama2cTokenizer) {
  const std::string good = read_all(kTestData + "/models/tok512.bin");
  ASSERT_GT(good.size(), 1000u);
  std::string path = write("tok.bin", good.substr(0, good.size() / 2));
  expect_error(Tokenizer::from_llama2c(path, 512), path, "truncated");
  path = write("tok2.bin", good.substr(0, good.size() - 3));
  expect_error(Tokenizer::from_llama2c(path, 512), path, "");
  expect_error(Tokenizer::from_llama2c(path, 0), path, "");
  path = write("empty.bin", "");
  expect_error(Tokenizer::from_llama2c(path, 512), path, "no header");
  // The first token claims 0x7FFFFFFF bytes.
  std::string absurd = good;
  const uint32_t huge = 0x7FFFFFFF;
  std::memcpy(&absurd[8], &huge, 4);
  path = write("absurd.bin", absurd);
  expect_error(Tokenizer::from_llama2c(path, 512), path, "length");
  std::string zero = good;
  std::memset(&zero[0], 0, 4);  // max_token_length 0
  path = write("zero.bin", zero);
  expect_error(Tokenizer::from_llama2c(path, 512), path, "max_token_length");
  // More tokens than the file holds.
  path = write("ok.bin", good);
  expect_error(Tokenizer::from_llama2c(path, 600), path, "truncated");
}

MetaValue strings(std::vector<std::string> v) {
  std::vector<MetaValue> arr;
  for (auto& s : v) arr.push_back(MetaValue::of_string(std::move(s)));
  return MetaValue::of_array(MetaType::kString, std::move(arr));
}
MetaValue ints(std::vector<int32_t> v) {
  std::vector<MetaValue> arr;
  for (int32_t x : v) arr.push_back(MetaValue::of_i32(x));
  return MetaValue::of_array(MetaType::kI32, std::move(arr));
}

Metadata tiny_gpt2() {
  Metadata m;
  m["tokenizer.ggml.model"] = MetaValue::of_string("gpt2");
  m["tokenizer.ggml.pre"] = MetaValue::of_string("gpt-2");
  m["tokenizer.ggml.tokens"] = strings({"a", "b", "ab", "<|endoftext|>"});
  m["tokenizer.ggml.token_type"] = ints({1, 1, 1, 3});
  m["tokenizer.ggml.merges"] = strings({"a b"});
  m["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(3);
  return m;
}

TEST_F(Malformed, GgufMetadata) {
  const std::string src = "vocab.gguf";
  auto ok = Tokenizer::from_gguf_metadata(tiny_gpt2(), src);
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ((*ok)->encode("aab", false), (std::vector<int32_t>{0, 2}));

  auto expect = [&](const Metadata& m, const std::string& what) {
    SCOPED_TRACE(what);
    expect_error(Tokenizer::from_gguf_metadata(m, src), src, what);
  };
  Metadata m = tiny_gpt2();
  m.erase("tokenizer.ggml.model");
  expect(m, "tokenizer.ggml.model");
  m = tiny_gpt2();
  m["tokenizer.ggml.model"] = MetaValue::of_string("bert");
  expect(m, "not supported");
  m = tiny_gpt2();
  m.erase("tokenizer.ggml.merges");
  expect(m, "without merges");
  m = tiny_gpt2();
  m["tokenizer.ggml.merges"] = strings({"a c"});
  expect(m, "'c'");
  m = tiny_gpt2();
  m["tokenizer.ggml.merges"] = strings({"ab"});
  expect(m, "merges[0]");
  m = tiny_gpt2();
  m["tokenizer.ggml.tokens"] = strings({"a", "b", "ab", "a"});
  m["tokenizer.ggml.token_type"] = ints({1, 1, 1, 1});
  expect(m, "duplicated");
  m = tiny_gpt2();
  m["tokenizer.ggml.tokens"] = MetaValue::of_string("a b ab");
  expect(m, "tokenizer.ggml.tokens");
  m = tiny_gpt2();
  m["tokenizer.ggml.tokens"] = ints({1, 2, 3, 4});
  expect(m, "tokenizer.ggml.tokens[0]");
  m = tiny_gpt2();
  m["tokenizer.ggml.token_type"] = ints({1, 1, 1});
  expect(m, "token_type");
  m = tiny_gpt2();
  m["tokenizer.ggml.token_type"] = ints({1, 1, 1, 9});
  expect(m, "token_type[3]");
  m = tiny_gpt2();
  m["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(4);
  expect(m, "out of range");
  m = tiny_gpt2();
  m["tokenizer.ggml.bos_token_id"] = MetaValue::of_string("1");
  expect(m, "bos_token_id");
  m = tiny_gpt2();
  m["tokenizer.ggml.pre"] = MetaValue::of_string("no-such-pre");
  expect(m, "no-such-pre");

  // SentencePiece: scores of the wrong length, a bad byte token, duplicated pieces.
  Metadata s;
  s["tokenizer.ggml.model"] = MetaValue::of_string("llama");
  s["tokenizer.ggml.tokens"] = strings({"<unk>", "<s>", "</s>", "<0x41>",
                                        "\xe2\x96\x81"
                                        "a"});
  s["tokenizer.ggml.token_type"] = ints({2, 3, 3, 6, 1});
  ok = Tokenizer::from_gguf_metadata(s, src);
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ((*ok)->encode("a A", true), (std::vector<int32_t>{1, 4, 0, 3}));
  Metadata bad = s;
  bad["tokenizer.ggml.scores"] = MetaValue::of_array(MetaType::kF32, {MetaValue::of_f32(0)});
  expect(bad, "scores");
  bad = s;
  bad["tokenizer.ggml.tokens"] = strings({"<unk>", "<s>", "</s>", "<0xZZ>", "a"});
  expect(bad, "<0xZZ>");
  bad = s;
  bad["tokenizer.ggml.tokens"] = strings({"<unk>", "<s>", "</s>", "<0x41>", "<0x41>"});
  bad["tokenizer.ggml.token_type"] = ints({2, 3, 3, 6, 6});
  expect(bad, "duplicated");
  bad = s;
  bad["tokenizer.ggml.tokens"] = strings({});
  bad["tokenizer.ggml.token_type"] = ints({});
  expect(bad, "empty");
}

TEST_F(Malformed, GgufFileEndToEnd) {
  GgufWriter w;
  for (const auto& [k, v] : tiny_gpt2()) w.set(k, v);
  w.set("tokenizer.ggml.merges", strings({"a q"}));
  const std::string path = (dir_ / "bad.gguf").string();
  ASSERT_TRUE(w.write(path).is_ok());
  expect_error(Tokenizer::from_file(path), path, "'q'");
}

}  // namespace
}  // namespace strata::testing
