// llama.cpp's tokenizer test vectors (produced by Hugging Face tokenizers): every case of
// every vocabulary, one test each.
#include <gtest/gtest.h>

#include <sstream>

#include "tokenizer/fixtures_util.h"

namespace strata::testing {
namespace {

struct VectorCase {
  std::string vocab;  // file stem: llama-spm, gpt-2, llama-bpe, qwen2
  int index = 0;
  std::string text;
  std::vector<int32_t> expected;  // without BOS
};

// .inp: each text followed by "\n__ggml_vocab_test__\n"; .out: line i = ids of text i.
std::vector<VectorCase> load_cases(const std::string& vocab) {
  const std::string base = kTestData + "/tokenizers/vectors/ggml-vocab-" + vocab + ".gguf";
  const std::string inp = read_all(base + ".inp");
  const std::string out = read_all(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t end = inp.find(sep, pos);
    if (end == std::string::npos) break;  // nothing after the last separator
    texts.push_back(inp.substr(pos, end - pos));
    pos = end + sep.size();
  }
  std::vector<VectorCase> cases;
  std::istringstream lines(out);
  std::string line;
  for (size_t i = 0; i < texts.size() && std::getline(lines, line); ++i) {
    VectorCase c{vocab, static_cast<int>(i), texts[i], {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.expected.push_back(id);
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<VectorCase> all_cases() {
  std::vector<VectorCase> all;
  for (const char* v : {"llama-spm", "gpt-2", "llama-bpe", "qwen2"}) {
    std::vector<VectorCase> c = load_cases(v);
    all.insert(all.end(), c.begin(), c.end());
  }
  return all;
}

const Tokenizer* tokenizer_for(const std::string& vocab, std::string* error) {
  if (vocab == "llama-spm") return llama_spm_gguf(error);
  if (vocab == "gpt-2") return gpt2_gguf(error);
  if (vocab == "llama-bpe") return llama3_json(error);
  return qwen3_json(error);
}

class VocabVectors : public ::testing::TestWithParam<VectorCase> {};

TEST_P(VocabVectors, EncodesLikeHuggingFace) {
  const VectorCase& c = GetParam();
  std::string error;
  const Tokenizer* tok = tokenizer_for(c.vocab, &error);
  ASSERT_NE(tok, nullptr) << error;
  const std::vector<int32_t> ids = tok->encode(c.text, /*add_bos=*/false);
  EXPECT_EQ(ids, c.expected) << "text: '" << c.text << "'\n  got      " << ids_str(ids)
                             << "\n  expected " << ids_str(c.expected);
  // Decoding gives the text back (SentencePiece: except the dummy prefix, which it drops).
  EXPECT_EQ(tok->decode(ids), c.text);
}

TEST(VocabVectorFiles, HaveAllCases) {
  for (const char* v : {"llama-spm", "gpt-2", "llama-bpe", "qwen2"}) {
    EXPECT_EQ(load_cases(v).size(), 46u) << v;
  }
}

std::string case_name(const ::testing::TestParamInfo<VectorCase>& info) {
  std::string name = info.param.vocab + "_" + std::to_string(info.param.index);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(All, VocabVectors, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace strata::testing
