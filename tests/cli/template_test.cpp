// strata template: prints exactly what python3-jinja2 renders for the same template and
// conversation (tests/data/chat_templates/expected.json), and fails cleanly on bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_util.h"

namespace strata {
namespace {

const std::string kData = STRATA_DATA;
const std::string kChatData = std::string(STRATA_TEST_DATA) + "/chat_templates";

struct Reference {
  nlohmann::ordered_json conversation;
  std::string expected;
};

// The jinja2 rendering of `template_file` on `conversation` with no extra context.
Reference reference(const std::string& template_file, const std::string& conversation, bool gen) {
  const auto doc = nlohmann::ordered_json::parse(test::read_all(kChatData + "/expected.json"));
  for (const auto& c : doc["cases"]) {
    if (c["template"] == template_file && c["conversation"] == conversation &&
        c["add_generation_prompt"] == gen && c["extra_context"].empty() && c.contains("expected")) {
      return {doc["conversations"][conversation], c["expected"].get<std::string>()};
    }
  }
  ADD_FAILURE() << "no reference case " << template_file << " " << conversation;
  return {};
}

std::string write_json(const std::string& name, const nlohmann::ordered_json& j) {
  const std::string path = test::scratch_dir() + "/" + name;
  test::write_all(path, j.dump());
  return path;
}

TEST(CliTemplate, Llama3MatchesJinja2) {
  const std::string config = kData + "/tokenizers/llama3/tokenizer_config.json";
  for (bool gen : {true, false}) {
    const Reference ref = reference("llama3.jinja", "multi_turn", gen);
    const std::string messages = write_json("llama3_messages.json", ref.conversation["messages"]);
    const auto o = test::run_cli("template --tokenizer-config " + config + " --messages " +
                                 messages + (gen ? "" : " --no-generation-prompt"));
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_EQ(o.out, ref.expected);  // byte for byte, no newline added
  }
}

TEST(CliTemplate, Qwen3ToolsMatchJinja2) {
  const Reference ref = reference("qwen3.jinja", "tool_calls", true);
  const std::string messages = write_json("qwen3_messages.json", ref.conversation["messages"]);
  const std::string tools = write_json("qwen3_tools.json", ref.conversation["tools"]);
  const auto o = test::run_cli("template --tokenizer-config " + kData +
                               "/tokenizers/qwen3/tokenizer_config.json --messages " + messages +
                               " --tools " + tools);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, ref.expected);
  // The same as one chat-request body.
  const std::string body = write_json(
      "qwen3_body.json",
      {{"messages", ref.conversation["messages"]}, {"tools", ref.conversation["tools"]}});
  const auto o2 = test::run_cli("template --tokenizer-config " + kData +
                                "/tokenizers/qwen3/tokenizer_config.json --messages " + body);
  ASSERT_EQ(o2.code, 0) << o2.err;
  EXPECT_EQ(o2.out, ref.expected);
}

TEST(CliTemplate, ModelWithoutTemplateUsesFallback) {
  const std::string messages = write_json(
      "fallback.json", nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])"));
  const auto o = test::run_cli("template --messages " + messages);  // the bundled model
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_NE(o.err.find("ChatML fallback"), std::string::npos) << o.err;
}

TEST(CliTemplate, BadInputFailsCleanly) {
  const std::string config = kData + "/tokenizers/llama3/tokenizer_config.json";
  const std::string bad = test::scratch_dir() + "/bad_messages.json";
  test::write_all(bad, "[{\"role\": \"user\", ");
  test::expect_clean_error(
      test::run_cli("template --tokenizer-config " + config + " --messages " + bad),
      "not valid JSON", "truncated messages file");
  const std::string not_array = write_json("not_array.json", {{"role", "user"}});
  test::expect_clean_error(
      test::run_cli("template --tokenizer-config " + config + " --messages " + not_array),
      "expected a JSON array of messages", "messages not an array");
  test::expect_clean_error(test::run_cli("template --tokenizer-config " + config + " --messages " +
                                         test::scratch_dir() + "/missing.json"),
                           "missing.json", "missing messages file");
  // A message without "role": the template's own error (str + undefined), located in it.
  const std::string no_role =
      write_json("no_role.json", nlohmann::ordered_json::parse(R"([{"content": "hi"}])"));
  test::expect_clean_error(
      test::run_cli("template --tokenizer-config " + config + " --messages " + no_role),
      "tokenizer_config.json:chat_template:1:", "message without role");
}

}  // namespace
}  // namespace strata
