// make-model's GGUF vocabularies carry the chat template of tokenizer_config.json, so a
// model written from Llama 3's or Qwen3's tokenizer renders conversations as they do.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/fixtures_util.h"
#include "tokenizer/gguf_vocab_writer.h"

namespace strata::testing {
namespace {

std::string config_template(const std::string& model) {
  const auto cfg =
      nlohmann::json::parse(read_all(kData + "/tokenizers/" + model + "/tokenizer_config.json"));
  return cfg["chat_template"].get<std::string>();
}

TEST(GgufChatTemplate, WrittenFromTokenizerConfig) {
  auto meta = gguf_vocab_from_tokenizer_json(kData + "/tokenizers/llama3/tokenizer.json.zst",
                                             "llama-bpe", 128256);
  ASSERT_TRUE(meta.is_ok()) << meta.status().message();
  EXPECT_EQ(meta_string(*meta, "tokenizer.chat_template"), config_template("llama3"));
}

TEST(GgufChatTemplate, AbsentWithoutOne) {
  // Mistral's tokenizer_config.json (as shipped) has no chat_template.
  auto meta =
      gguf_vocab_from_tokenizer_json(kData + "/tokenizers/mistral/tokenizer.json.zst", "", 32000);
  ASSERT_TRUE(meta.is_ok()) << meta.status().message();
  EXPECT_EQ(meta_find(*meta, "tokenizer.chat_template"), nullptr);
}

}  // namespace
}  // namespace strata::testing
