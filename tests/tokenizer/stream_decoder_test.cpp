#include <gtest/gtest.h>

#include <random>

#include "tokenizer/fixtures_util.h"
#include "tokenizer/utf8.h"

namespace strata::testing {
namespace {

using Ids = std::vector<int32_t>;

// Feeds `ids` one by one; checks every output is valid UTF-8 when the whole decode is, and
// that the outputs plus flush() concatenate to decode().
void check_stream(const Tokenizer& t, const Ids& ids, const std::string& what) {
  const std::string full = t.decode(ids);
  const bool valid = utf8::is_valid(full);
  StreamDecoder dec(t);
  std::string got;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string out = dec.push(ids[i]);
    if (valid) {
      ASSERT_TRUE(utf8::is_valid(out)) << what << ": token " << i;
      ASSERT_TRUE(utf8::is_valid(got + out)) << what << ": token " << i;
    }
    got += out;
  }
  got += dec.flush();
  EXPECT_EQ(got, full) << what;
}

TEST(StreamDecoder, SplitsCharactersAcrossByteTokens) {
  std::string error;
  const Tokenizer* t = stories_gguf(&error);
  ASSERT_NE(t, nullptr) << error;
  // "中" is three byte-fallback tokens: nothing comes out until the third.
  const Ids ids = t->encode("a中", false);
  ASSERT_GE(ids.size(), 4u);
  StreamDecoder dec(*t);
  std::string out;
  for (size_t i = 0; i + 3 < ids.size(); ++i) out += dec.push(ids[i]);
  EXPECT_EQ(out, "a");
  EXPECT_EQ(dec.push(ids[ids.size() - 3]), "");
  EXPECT_EQ(dec.push(ids[ids.size() - 2]), "");
  EXPECT_EQ(dec.push(ids[ids.size() - 1]), "中");
  EXPECT_EQ(dec.flush(), "");
}

TEST(StreamDecoder, InvalidBytesPassThrough) {
  std::string error;
  const Tokenizer* t = stories_gguf(&error);
  ASSERT_NE(t, nullptr) << error;
  StreamDecoder dec(*t, /*prev=*/1);
  EXPECT_EQ(dec.push(3 + 0x80), "\x80");  // a stray continuation byte can never be valid
  EXPECT_EQ(dec.push(3 + 0xE2), "");      // may become "€"
  EXPECT_EQ(dec.push(3 + 'x'), "\xE2x");  // ...but did not
  EXPECT_EQ(dec.push(3 + 0xF0), "");
  EXPECT_EQ(dec.flush(), "\xF0");  // an incomplete tail at the end comes out at flush
}

TEST(StreamDecoder, SeededWithThePromptKeepsTheSpace) {
  std::string error;
  const Tokenizer* t = stories_gguf(&error);
  ASSERT_NE(t, nullptr) << error;
  StreamDecoder after_prompt(*t, /*prev=*/378);
  EXPECT_EQ(after_prompt.push(383), " there");
  StreamDecoder at_start(*t);
  EXPECT_EQ(at_start.push(403), "Once");
}

TEST(StreamDecoder, ConcatenationEqualsDecode) {
  std::string e1, e2, e3;
  const Tokenizer* spm = stories_gguf(&e1);
  const Tokenizer* llama3 = llama3_json(&e2);
  const Tokenizer* qwen = qwen3_json(&e3);
  ASSERT_NE(spm, nullptr) << e1;
  ASSERT_NE(llama3, nullptr) << e2;
  ASSERT_NE(qwen, nullptr) << e3;
  const std::vector<std::string> texts = {
      "Once upon a time", "héllo wörld € 中文字符 😀🦙 🚀 (normal) 😶‍🌫️",
      "日本語のテキスト", "\xff\xfe broken \xe2\x82 utf8 \xf0\x9f\x98", ""};
  for (const std::string& s : texts) {
    check_stream(*spm, spm->encode(s, true), "spm: " + s);
    check_stream(*llama3, llama3->encode(s, true), "llama3: " + s);
    check_stream(*qwen, qwen->encode(s, false), "qwen3: " + s);
  }
  // Random token sequences, valid or not.
  std::mt19937 rng(7);
  for (int n = 0; n < 300; ++n) {
    Ids ids;
    for (int k = 0; k < 20; ++k) ids.push_back(static_cast<int32_t>(rng() % 512));
    check_stream(*spm, ids, "spm random " + std::to_string(n));
    Ids ids3;
    for (int k = 0; k < 20; ++k) ids3.push_back(static_cast<int32_t>(rng() % 128256));
    check_stream(*llama3, ids3, "llama3 random " + std::to_string(n));
  }
}

TEST(Utf8, IncompleteTail) {
  EXPECT_EQ(utf8::incomplete_tail_len(""), 0u);
  EXPECT_EQ(utf8::incomplete_tail_len("abc"), 0u);
  EXPECT_EQ(utf8::incomplete_tail_len("a\xe2"), 1u);
  EXPECT_EQ(utf8::incomplete_tail_len("a\xe2\x82"), 2u);
  EXPECT_EQ(utf8::incomplete_tail_len("a\xe2\x82\xac"), 0u);
  EXPECT_EQ(utf8::incomplete_tail_len("\xf0\x9f\x98"), 3u);
  EXPECT_EQ(utf8::incomplete_tail_len("\x80"), 0u);      // stray continuation
  EXPECT_EQ(utf8::incomplete_tail_len("\xe0\x80"), 0u);  // overlong: never valid
  EXPECT_EQ(utf8::incomplete_tail_len("\xed\xa0"), 0u);  // surrogate: never valid
  EXPECT_EQ(utf8::incomplete_tail_len("\xf5"), 0u);      // beyond U+10FFFF
  EXPECT_TRUE(utf8::is_valid("héllo 😀"));
  EXPECT_FALSE(utf8::is_valid("\xc0\xaf"));
}

}  // namespace
}  // namespace strata::testing
