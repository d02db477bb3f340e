#pragma once
// Shared helpers of the chat-template tests: the reference renderings python3-jinja2 produced
// (tests/data/chat_templates/expected.json, see scripts/render_chat_templates.py).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"

namespace strata::testing {

inline const std::string kChatData = std::string(STRATA_TEST_DATA) + "/chat_templates";

std::string read_file(const std::string& path);

struct ReferenceCase {
  std::string name;  // "<template>/<conversation>/<extra>/<gen|nogen>", a gtest-safe name
  std::string template_file;
  ChatTemplateInputs inputs;
  bool is_error = false;
  std::string expected;  // the rendering, or jinja2's error message
};

// Every case of expected.json, in file order.
const std::vector<ReferenceCase>& reference_cases();

// Renders `source` with `messages_json` (a JSON array) and defaults for the rest.
Result<std::string> render(const std::string& source, const std::string& messages_json = "[]",
                           const std::string& extra_json = "{}");

}  // namespace strata::testing
