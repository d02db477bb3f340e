// Renderings of real and purpose-written chat templates compared byte for byte with
// python3-jinja2's, configured as transformers configures it (expected.json, written by
// scripts/render_chat_templates.py).
#include <gtest/gtest.h>

#include <set>

#include "chat/chat_util.h"

namespace strata::testing {
namespace {

class ReferenceTest : public ::testing::TestWithParam<ReferenceCase> {};

TEST_P(ReferenceTest, MatchesJinja2) {
  const ReferenceCase& c = GetParam();
  const std::string source = read_file(kChatData + "/" + c.template_file);
  ASSERT_FALSE(source.empty()) << c.template_file;
  auto out = render_chat_template(source, c.template_file, c.inputs);
  if (c.is_error) {
    ASSERT_FALSE(out.is_ok()) << "jinja2 failed with: " << c.expected << "\nstrata rendered:\n"
                              << *out;
    // raise_exception's message comes through as given; Python's own TypeErrors are worded
    // differently (and only need to be errors).
    if (c.expected.find("Error: ") == std::string::npos) {
      EXPECT_NE(out.status().message().find(c.expected), std::string::npos)
          << out.status().message();
    }
    EXPECT_EQ(out.status().message().rfind(c.template_file + ":", 0), 0u) << out.status().message();
    return;
  }
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(*out, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Templates, ReferenceTest, ::testing::ValuesIn(reference_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ReferenceCases, CoverEveryTemplate) {
  std::set<std::string> templates;
  for (const auto& c : reference_cases()) templates.insert(c.template_file);
  EXPECT_EQ(templates, (std::set<std::string>{"llama3.jinja", "qwen3.jinja", "mistral_style.jinja",
                                              "phi3_style.jinja", "llama2_style.jinja",
                                              "gemma_style.jinja", "torture.jinja"}));
  EXPECT_GE(reference_cases().size(), 150u);
}

// The template files are the ones in the tokenizer configs strata ships.
TEST(ReferenceCases, RealTemplatesMatchTokenizerConfigs) {
  for (const char* model : {"llama3", "qwen3"}) {
    auto t = chat_template_from_tokenizer_config(std::string(STRATA_DATA) + "/tokenizers/" + model +
                                                 "/tokenizer_config.json");
    ASSERT_TRUE(t.is_ok()) << t.status().message();
    EXPECT_FALSE(t->is_fallback);
    EXPECT_EQ(t->source, read_file(kChatData + "/" + model + ".jinja")) << model;
  }
}

}  // namespace
}  // namespace strata::testing
