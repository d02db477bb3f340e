// Byte-level BPE: special tokens of Llama 3 and Qwen3, round trips on arbitrary bytes,
// ignore_merges, NFC.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/fixtures_util.h"
#include "tokenizer/utf8.h"

namespace strata::testing {
namespace {

using Ids = std::vector<int32_t>;

const Tokenizer* need(const Tokenizer* t, const std::string& error) {
  EXPECT_NE(t, nullptr) << error;
  return t;
}

TEST(Llama3, SpecialTokens) {
  std::string error;
  const Tokenizer* t = need(llama3_json(&error), error);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind(), "bpe");
  EXPECT_EQ(t->n_vocab(), 128256);
  EXPECT_EQ(t->special().bos, 128000);
  EXPECT_EQ(t->special().eos, 128001);
  EXPECT_EQ(t->special().eot, 128009);  // <|eot_id|>
  EXPECT_TRUE(t->special().add_bos);
  EXPECT_TRUE(t->is_eog(128001));
  EXPECT_TRUE(t->is_eog(128009));
  EXPECT_FALSE(t->is_eog(128000));
  EXPECT_FALSE(t->is_eog(128008));  // a reserved token in Llama 3.0 (<|eom_id|> in 3.1)
  EXPECT_EQ(t->token_text(128009), "<|eot_id|>");
  EXPECT_EQ(t->token_type(128009), TokenType::kControl);
  EXPECT_EQ(t->token_bytes(128009), "");
}

TEST(Llama3, ParsesSpecialTokenTextOnlyWhenAsked) {
  std::string error;
  const Tokenizer* t = need(llama3_json(&error), error);
  ASSERT_NE(t, nullptr);
  const std::string text = "<|begin_of_text|>Hello";
  const Ids on = t->encode(text, false, /*parse_special=*/true);
  ASSERT_EQ(on.size(), 2u) << ids_str(on);
  EXPECT_EQ(on[0], 128000);
  EXPECT_EQ(on[1], 9906);  // "Hello"
  const Ids off = t->encode(text, false, /*parse_special=*/false);
  EXPECT_EQ(std::count(off.begin(), off.end(), 128000), 0) << ids_str(off);
  EXPECT_GT(off.size(), 3u);
  EXPECT_EQ(t->decode(off), text);
  // BOS from add_bos, then the chat header markers.
  const Ids chat =
      t->encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", true, true);
  ASSERT_GE(chat.size(), 5u);
  EXPECT_EQ(chat[0], 128000);
  EXPECT_EQ(chat[1], 128006);
  EXPECT_EQ(chat.back(), 128009);
}

TEST(Llama3, IgnoreMergesEmitsWholeTokens) {
  std::string error;
  const Tokenizer* t = need(llama3_json(&error), error);
  ASSERT_NE(t, nullptr);
  // Every pre-token that is a vocabulary entry is that one token.
  for (const char* word : {"Hello", " world", " the", "!!!!", "    "}) {
    EXPECT_EQ(t->encode(word, false).size(), 1u) << word;
  }
}

TEST(Qwen3, SpecialAndAddedTokens) {
  std::string error;
  const Tokenizer* t = need(qwen3_json(&error), error);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->n_vocab(), 151669);
  EXPECT_EQ(t->special().bos, -1);
  EXPECT_FALSE(t->special().add_bos);
  EXPECT_EQ(t->special().eos, 151645);  // <|im_end|>
  EXPECT_EQ(t->special().pad, 151643);  // <|endoftext|>
  EXPECT_TRUE(t->is_eog(151645));
  EXPECT_TRUE(t->is_eog(151643));
  // <think> is a non-special added token: always one token, and decoded as text.
  const Ids ids = t->encode("a<think>b", false, false);
  EXPECT_EQ(ids.size(), 3u) << ids_str(ids);
  EXPECT_EQ(ids[1], 151667);
  EXPECT_EQ(t->decode(ids), "a<think>b");
  // <|im_start|> is special: text unless parse_special.
  EXPECT_EQ(t->encode("<|im_start|>", false, true), (Ids{151644}));
  EXPECT_NE(t->encode("<|im_start|>", false, false), (Ids{151644}));
}

TEST(Qwen3, NormalizesToNfc) {
  std::string error;
  const Tokenizer* t = need(qwen3_json(&error), error);
  ASSERT_NE(t, nullptr);
  // "e" + COMBINING ACUTE ACCENT is "é" after NFC.
  EXPECT_EQ(t->encode("caf\x65\xcc\x81", false), t->encode("caf\xc3\xa9", false));
}

// decode(encode(s)) == s for any bytes: byte-level BPE loses nothing, not even invalid
// UTF-8 (PCRE2 leaves those bytes unmatched; they become pieces of their own).
void round_trip(const Tokenizer& t, const char* name) {
  std::mt19937 rng(1234);
  const std::vector<std::string> alphabet = {"a",
                                             "b",
                                             "e",
                                             "th",
                                             " ",
                                             "  ",
                                             "\n",
                                             "\t",
                                             "1",
                                             "23",
                                             "'s",
                                             "'LL",
                                             "é",
                                             "€",
                                             "中文",
                                             "😀",
                                             "\xcc\x81",
                                             "\xff",
                                             "\x80",
                                             "\xe2\x82",
                                             "\xf0\x9f",
                                             "\xc0\xaf",
                                             "<|",
                                             "|>",
                                             "<think>",
                                             ".",
                                             "!!",
                                             "\r\n",
                                             std::string(1, '\0')};
  for (int n = 0; n < 3000; ++n) {
    std::string s;
    const int len = rng() % 24;
    for (int k = 0; k < len; ++k) {
      if (rng() % 4 == 0) {
        s.push_back(static_cast<char>(rng() & 0xFF));  // raw random byte
      } else {
        s += alphabet[rng() % alphabet.size()];
      }
    }
    const Ids ids = t.encode(s, false);
    ASSERT_EQ(t.decode(ids), s) << name << " case " << n << " ids " << ids_str(ids);
  }
}

TEST(ByteLevelBpe, RoundTripsRandomBytes) {
  std::string error;
  const Tokenizer* l = need(llama3_json(&error), error);
  ASSERT_NE(l, nullptr);
  round_trip(*l, "llama3");
  const Tokenizer* g = need(gpt2_gguf(&error), error);
  ASSERT_NE(g, nullptr);
  round_trip(*g, "gpt2");
}

TEST(ByteLevelBpe, Qwen3RoundTripsValidNfcText) {
  std::string error;
  const Tokenizer* t = need(qwen3_json(&error), error);
  ASSERT_NE(t, nullptr);
  for (const char* s : {"Hello, y'all! 你好 😀\n\n  x", "\xff\xfe bad \x80 bytes", "3333 x\r\n"}) {
    EXPECT_EQ(t->decode(t->encode(s, false)), s);
  }
}

// Single pre-tokens of hundreds of KB (a run of spaces, of letters, of emoji, of digits)
// take the heap path and PCRE2's backtracking limits; they must still round-trip.
TEST(ByteLevelBpe, LongRuns) {
  std::string error;
  const Tokenizer* t = need(llama3_json(&error), error);
  ASSERT_NE(t, nullptr);
  std::string emoji;
  for (int i = 0; i < 50000; ++i) emoji += "😀";
  for (const std::string& s :
       {std::string(300000, ' '), std::string(300000, 'a'), emoji, std::string(100000, '7'),
        std::string(100000, '\n') + "x", std::string(200000, '=')}) {
    const Ids ids = t->encode(s, false);
    EXPECT_LT(ids.size(), s.size());
    EXPECT_EQ(t->decode(ids), s) << s.substr(0, 8);
  }
}

TEST(Gpt2, SpecialTokens) {
  std::string error;
  const Tokenizer* t = need(gpt2_gguf(&error), error);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->special().bos, 50256);
  EXPECT_EQ(t->special().eos, 50256);
  EXPECT_FALSE(t->special().add_bos);
  EXPECT_EQ(t->token_text(50256), "<|endoftext|>");
  EXPECT_EQ(t->token_text(220), "\xc4\xa0");  // "Ġ", printable form
  EXPECT_EQ(t->token_bytes(220), " ");
  EXPECT_EQ(t->encode("<|endoftext|>", false, true), (Ids{50256}));
}

}  // namespace
}  // namespace strata::testing
