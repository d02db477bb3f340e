// The GGUF byte-level BPE path with the llama-bpe and qwen2 pre-tokenizers: the Llama 3 and
// Qwen3 tokenizer.json files turned into tokenizer.ggml.* metadata the way llama.cpp's
// convert_hf_to_gguf.py does, then checked against the same test vectors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/fixtures_util.h"

namespace strata::testing {
namespace {

MetaValue string_array(std::vector<std::string> v) {
  std::vector<MetaValue> arr;
  arr.reserve(v.size());
  for (auto& s : v) arr.push_back(MetaValue::of_string(std::move(s)));
  return MetaValue::of_array(MetaType::kString, std::move(arr));
}

Metadata convert(const std::string& json_path, const std::string& pre) {
  const nlohmann::json j = nlohmann::json::parse(read_all(json_path));
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  auto put = [&](int64_t id, const std::string& text, int32_t type) {
    if (static_cast<int64_t>(tokens.size()) <= id) {
      tokens.resize(id + 1);
      types.resize(id + 1, 5);
    }
    tokens[id] = text;
    types[id] = type;
  };
  for (const auto& [text, id] : j["model"]["vocab"].items()) put(id.get<int64_t>(), text, 1);
  for (const auto& a : j["added_tokens"]) {
    put(a["id"].get<int64_t>(), a["content"].get<std::string>(), a["special"].get<bool>() ? 3 : 4);
  }
  std::vector<std::string> merges;
  for (const auto& m : j["model"]["merges"]) {
    if (m.is_string()) {
      merges.push_back(m.get<std::string>());
    } else {
      std::string joined = m[0].get<std::string>();
      joined.append(" ").append(m[1].get<std::string>());
      merges.push_back(std::move(joined));
    }
  }
  std::vector<MetaValue> type_values;
  for (int32_t t : types) type_values.push_back(MetaValue::of_i32(t));
  Metadata m;
  m["tokenizer.ggml.model"] = MetaValue::of_string("gpt2");
  m["tokenizer.ggml.pre"] = MetaValue::of_string(pre);
  m["tokenizer.ggml.tokens"] = string_array(std::move(tokens));
  m["tokenizer.ggml.token_type"] = MetaValue::of_array(MetaType::kI32, std::move(type_values));
  m["tokenizer.ggml.merges"] = string_array(std::move(merges));
  return m;
}

void check_vectors(const Tokenizer& t, const std::string& vocab) {
  const std::string base = kTestData + "/tokenizers/vectors/ggml-vocab-" + vocab + ".gguf";
  const std::string inp = read_all(base + ".inp");
  std::istringstream out(read_all(base + ".out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  int n = 0;
  for (size_t pos = 0, end; (end = inp.find(sep, pos)) != std::string::npos;
       pos = end + sep.size()) {
    const std::string text = inp.substr(pos, end - pos);
    std::string line;
    ASSERT_TRUE(std::getline(out, line));
    std::vector<int32_t> expected;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) expected.push_back(id);
    EXPECT_EQ(t.encode(text, false), expected) << vocab << " case " << n << ": '" << text << "'";
    ++n;
  }
  EXPECT_EQ(n, 46);
}

TEST(GgufByteLevel, LlamaBpeFromLlama3Json) {
  const std::string path = kData + "/tokenizers/llama3/tokenizer.json.zst";
  auto t = Tokenizer::from_gguf_metadata(convert(path, "llama-bpe"), path);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_TRUE((*t)->special().add_bos);  // llama.cpp's default for llama-bpe
  EXPECT_EQ((*t)->special().eot, 128009);
  check_vectors(**t, "llama-bpe");
}

TEST(GgufByteLevel, Qwen2FromQwen3Json) {
  const std::string path = kData + "/tokenizers/qwen3/tokenizer.json.zst";
  auto t = Tokenizer::from_gguf_metadata(convert(path, "qwen2"), path);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_FALSE((*t)->special().add_bos);
  EXPECT_TRUE((*t)->is_eog(151645));  // <|im_end|>
  EXPECT_TRUE((*t)->is_eog(151643));  // <|endoftext|>
  check_vectors(**t, "qwen2");
}

}  // namespace
}  // namespace strata::testing
