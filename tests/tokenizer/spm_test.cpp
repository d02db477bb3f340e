// SentencePiece-style BPE: the stories260K vocabulary as GGUF metadata and as llama2.c's
// tok512.bin, checked against llama2.c's run.c; and the Llama 2 vocabulary's details.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "format/gguf.h"
#include "tokenizer/fixtures_util.h"

namespace strata::testing {
namespace {

using Ids = std::vector<int32_t>;

nlohmann::json reference() {
  return nlohmann::json::parse(read_all(kTestData + "/reference/stories260K.json"));
}

class Stories : public ::testing::TestWithParam<const char*> {
 protected:
  const Tokenizer* tok() {
    std::string error;
    const Tokenizer* t =
        std::string(GetParam()) == "gguf" ? stories_gguf(&error) : stories_tok512(&error);
    EXPECT_NE(t, nullptr) << error;
    return t;
  }
};

TEST_P(Stories, EncodesLikeRunC) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind(), "spm");
  EXPECT_EQ(t->n_vocab(), 512);
  EXPECT_EQ(t->special().bos, 1);
  EXPECT_EQ(t->special().eos, 2);
  EXPECT_TRUE(t->special().add_bos);
  EXPECT_EQ(t->encode("Once upon a time", true), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(t->encode("Once upon a time", false), (Ids{403, 407, 261, 378}));
  EXPECT_EQ(t->encode("", true), (Ids{1}));
  EXPECT_EQ(t->encode("", false), Ids{});
}

TEST_P(Stories, DecodesGeneratedPiecesLikeRunC) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  const nlohmann::json ref = reference();
  for (const auto& c : ref["cases"]) {
    const Ids prompt = c["prompt_token_ids"].get<Ids>();
    const Ids gen = c["generated_token_ids"].get<Ids>();
    int32_t prev = prompt.back();
    std::string text;
    for (size_t i = 0; i < gen.size(); ++i) {
      const std::string piece = t->token_bytes(gen[i], prev);
      if (c.contains("generated_pieces")) {
        EXPECT_EQ(piece, c["generated_pieces"][i].get<std::string>()) << "token " << i;
      }
      text += piece;
      prev = gen[i];
    }
    // run.c prints the prompt's pieces, then the generated ones, then "\n".
    const std::string prompt_text = t->decode(prompt);
    EXPECT_EQ(prompt_text + text + "\n", c["stdout"].get<std::string>()) << c["command"];
  }
}

TEST_P(Stories, FirstPieceAfterBosLosesItsSpace) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->token_bytes(403, 1), "Once");
  EXPECT_EQ(t->token_bytes(403, -1), "Once");
  EXPECT_EQ(t->token_bytes(403, 378), " Once");
  EXPECT_EQ(t->token_bytes(1, -1), "");            // control tokens decode to nothing
  EXPECT_EQ(t->token_bytes(3 + '\n', 378), "\n");  // byte fallback token <0x0A>
  EXPECT_EQ(t->decode({1, 403, 407, 261, 378}), "Once upon a time");
  EXPECT_EQ(t->token_type(3), TokenType::kByte);
  EXPECT_EQ(t->token_type(1), TokenType::kControl);
  EXPECT_EQ(t->token_type(0), TokenType::kUnknown);
  EXPECT_EQ(t->token_type(-5), TokenType::kUndefined);
  EXPECT_EQ(t->token_bytes(100000, -1), "");
}

TEST_P(Stories, ByteFallbackForCharactersOutsideTheVocabulary) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  // "中" (E4 B8 AD) is not one of the 512 pieces: the dummy prefix, then three byte tokens.
  const Ids ids = t->encode("中", false);
  EXPECT_EQ(ids, (Ids{410, 3 + 0xE4, 3 + 0xB8, 3 + 0xAD}));
  EXPECT_EQ(t->decode(ids), "中");
  // Invalid UTF-8 goes through byte fallback too.
  const std::string bad = "a\xff\xc3(b";
  EXPECT_EQ(t->decode(t->encode(bad, false)), bad);
}

INSTANTIATE_TEST_SUITE_P(Both, Stories, ::testing::Values("gguf", "tok512"));

TEST(StoriesVocab, GgufAndTok512Agree) {
  std::string e1, e2;
  const Tokenizer* a = stories_gguf(&e1);
  const Tokenizer* b = stories_tok512(&e2);
  ASSERT_NE(a, nullptr) << e1;
  ASSERT_NE(b, nullptr) << e2;
  for (int32_t id = 3; id < 512; ++id) {
    EXPECT_EQ(a->token_bytes(id, 5), b->token_bytes(id, 5)) << id;
  }
  const std::string text = reference()["cases"][2]["stdout"].get<std::string>();
  const Ids ids = a->encode(text, true);
  EXPECT_EQ(ids, b->encode(text, true));
  EXPECT_EQ(a->decode(ids), text);
}

TEST(StoriesVocab, Tok512WithoutCountReadsAllTokens) {
  auto r = Tokenizer::from_llama2c(kTestData + "/models/tok512.bin", 0);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)->n_vocab(), 512);
  auto f = Tokenizer::from_file(kTestData + "/models/tok512.bin");
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ((*f)->encode("Once upon a time", true), (Ids{1, 403, 407, 261, 378}));
}

TEST(LlamaSpm, SpecialTokensAndParsing) {
  std::string error;
  const Tokenizer* t = llama_spm_gguf(&error);
  ASSERT_NE(t, nullptr) << error;
  EXPECT_EQ(t->n_vocab(), 32000);
  EXPECT_EQ(t->special().unk, 0);
  EXPECT_EQ(t->special().bos, 1);
  EXPECT_EQ(t->special().eos, 2);
  EXPECT_TRUE(t->is_eog(2));
  EXPECT_FALSE(t->is_eog(1));
  // "<s>" is control text: a token only with parse_special, and then the next text gets
  // the dummy prefix again, as in llama.cpp.
  const Ids plain = t->encode("<s>Hi", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0) << ids_str(plain);
  const Ids parsed = t->encode("<s>Hi", false, true);
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed[0], 1);
  EXPECT_EQ(Ids(parsed.begin() + 1, parsed.end()), t->encode("Hi", false));
  EXPECT_EQ(t->decode(parsed), "Hi");
}

// Without byte tokens, a character no piece covers is the unknown token; a run of them is one
// unknown token (HF fuse_unk). Unknown decodes to its text.
TEST(SpmWithoutByteFallback, UnknownCharactersBecomeUnk) {
  auto strings = [](std::vector<std::string> v) {
    std::vector<MetaValue> arr;
    for (auto& x : v) arr.push_back(MetaValue::of_string(std::move(x)));
    return MetaValue::of_array(MetaType::kString, std::move(arr));
  };
  auto ints = [](std::vector<int32_t> v) {
    std::vector<MetaValue> arr;
    for (int32_t x : v) arr.push_back(MetaValue::of_i32(x));
    return MetaValue::of_array(MetaType::kI32, std::move(arr));
  };
  Metadata m;
  m["tokenizer.ggml.model"] = MetaValue::of_string("llama");
  m["tokenizer.ggml.tokens"] = strings({"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a",
                                        "\xe2\x96\x81"
                                        "a"});
  m["tokenizer.ggml.token_type"] = ints({2, 3, 3, 1, 1, 1});
  m["tokenizer.ggml.scores"] = MetaValue::of_array(
      MetaType::kF32, {MetaValue::of_f32(0), MetaValue::of_f32(0), MetaValue::of_f32(0),
                       MetaValue::of_f32(-1), MetaValue::of_f32(-2), MetaValue::of_f32(-0.5)});
  auto t = Tokenizer::from_gguf_metadata(m, "nobytes.gguf");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ((*t)->special().unk, 0);
  EXPECT_EQ((*t)->encode("a 中中 a", true), (Ids{1, 5, 3, 0, 5}));
  EXPECT_EQ((*t)->encode("a中x", false), (Ids{5, 0}));
  EXPECT_EQ((*t)->decode({5, 3, 0, 5}), "a <unk> a");
}

// The encoder cuts the text before each word-initial "▁" unless some piece holds "▁" after
// another character. Adding the inert piece "\x01▁" (never formed: the texts have no \x01)
// turns the cut off; the ids must not change.
TEST(LlamaSpm, CuttingAtWordsChangesNothing) {
  const std::string path = kTestData + "/tokenizers/vectors/ggml-vocab-llama-spm.gguf";
  auto g = parse_gguf(path);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  Metadata meta = g->meta;
  meta["tokenizer.ggml.tokens"].arr.push_back(MetaValue::of_string("\x01\xe2\x96\x81"));
  meta["tokenizer.ggml.scores"].arr.push_back(MetaValue::of_f32(-1e9f));
  meta["tokenizer.ggml.token_type"].arr.push_back(MetaValue::of_i32(1));
  auto whole = Tokenizer::from_gguf_metadata(meta, path);
  ASSERT_TRUE(whole.is_ok()) << whole.status().message();
  std::string error;
  const Tokenizer* cut = llama_spm_gguf(&error);
  ASSERT_NE(cut, nullptr) << error;

  std::mt19937 rng(99);
  const std::vector<std::string> parts = {"the", "▁",  " ",    "  ",   "   ", "ing", "Hello",
                                          "x",   "\n", "\t",   "中文", "😀",   "é",   "'s",
                                          ".",   "3",  "\xff", "<s>",  "__",  "▁▁"};
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    for (int k = rng() % 30; k > 0; --k) s += parts[rng() % parts.size()];
    ASSERT_EQ((*whole)->encode(s, true), cut->encode(s, true)) << "'" << s << "'";
  }
}

}  // namespace
}  // namespace strata::testing
