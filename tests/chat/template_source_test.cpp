// Finding a model's chat template: GGUF metadata, tokenizer_config.json (string or named
// list), chat_template.jinja, or the ChatML fallback.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "chat/chat_util.h"

namespace strata::testing {
namespace {

MetaValue tokens(std::vector<std::string> v) {
  std::vector<MetaValue> items;
  for (auto& s : v) items.push_back(MetaValue::of_string(std::move(s)));
  return MetaValue::of_array(MetaType::kString, std::move(items));
}

class ConfigDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("chat_cfg_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST(ChatTemplateSource, FromGguf) {
  Metadata meta;
  meta["tokenizer.chat_template"] = MetaValue::of_string("{{ bos_token }}");
  meta["tokenizer.ggml.tokens"] = tokens({"<unk>", "<s>", "</s>"});
  meta["tokenizer.ggml.bos_token_id"] = MetaValue::of_u32(1);
  meta["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(2);
  auto t = chat_template_from_gguf(meta, "m.gguf");
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->source, "{{ bos_token }}");
  EXPECT_EQ(t->name, "m.gguf:tokenizer.chat_template");
  EXPECT_EQ(t->bos_token, "<s>");
  EXPECT_EQ(t->eos_token, "</s>");
  EXPECT_FALSE(t->is_fallback);

  meta.erase("tokenizer.chat_template");
  meta["tokenizer.ggml.eos_token_id"] = MetaValue::of_u32(99);  // out of range: no token
  t = chat_template_from_gguf(meta, "m.gguf");
  ASSERT_TRUE(t.is_ok());
  EXPECT_TRUE(t->is_fallback);
  EXPECT_EQ(t->source, kFallbackChatTemplate);
  EXPECT_EQ(t->eos_token, "");
}

TEST_F(ConfigDir, StringTemplateAndTokenObjects) {
  auto t = chat_template_from_tokenizer_config(write(
      "tokenizer_config.json",
      R"({"chat_template": "T", "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"})"));
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->source, "T");
  EXPECT_EQ(t->bos_token, "<s>");
  EXPECT_EQ(t->eos_token, "</s>");
}

TEST_F(ConfigDir, NamedTemplateList) {
  const std::string path = write("tokenizer_config.json",
                                 R"({"chat_template": [{"name": "tool_use", "template": "A"},
                                                       {"name": "default", "template": "B"}]})");
  auto t = chat_template_from_tokenizer_config(path);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->source, "B");
  write("tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "A"}]})");
  t = chat_template_from_tokenizer_config(path);
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("none named 'default'"), std::string::npos);
}

TEST_F(ConfigDir, JinjaFileBesideOrFallback) {
  const std::string path = write("tokenizer_config.json", R"({"eos_token": null})");
  auto t = chat_template_from_tokenizer_config(path);
  ASSERT_TRUE(t.is_ok());
  EXPECT_TRUE(t->is_fallback);
  write("chat_template.jinja", "from file");
  t = chat_template_from_tokenizer_config(path);
  ASSERT_TRUE(t.is_ok());
  EXPECT_FALSE(t->is_fallback);
  EXPECT_EQ(t->source, "from file");
}

TEST_F(ConfigDir, Errors) {
  EXPECT_FALSE(chat_template_from_tokenizer_config((dir_ / "missing.json").string()).is_ok());
  EXPECT_FALSE(
      chat_template_from_tokenizer_config(write("tokenizer_config.json", "{oops")).is_ok());
  EXPECT_FALSE(
      chat_template_from_tokenizer_config(write("tokenizer_config.json", R"({"chat_template": 3})"))
          .is_ok());
}

}  // namespace
}  // namespace strata::testing
