// libFuzzer target: arbitrary bytes as a chat template, rendered with a fixed conversation
// (system, user, assistant with a tool call, tool) and tools. Parsing and rendering must
// return a Status for every input: no crash, no hang, no unbounded recursion or memory.
// The limits are lower than render_chat_template's defaults so that a slow input shows up
// as a finding of libFuzzer's -timeout rather than passing under a generous budget.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chat/chat_template.h"

namespace {

const strata::ChatTemplateInputs& inputs() {
  static const strata::ChatTemplateInputs in = [] {
    strata::ChatTemplateInputs i;
    i.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Weather in Z\u00fcrich? \ud83d\udc4b"},
      {"role": "assistant", "content": "<think>\nhm\n</think>\n\nChecking.",
       "tool_calls": [{"type": "function",
                       "function": {"name": "get_weather", "arguments": {"city": "Z\u00fcrich"}}}]},
      {"role": "tool", "content": "{\"temp\": 21}"},
      {"role": "user", "content": ""}])");
    i.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {
      "name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
    i.bos_token = "<s>";
    i.eos_token = "</s>";
    i.extra_context = nlohmann::ordered_json::parse(R"({"enable_thinking": false})");
    i.now = 1700049600;
    return i;
  }();
  return in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  strata::jinja::RenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_steps = 100'000;
  limits.max_work_bytes = 64 << 20;
  auto out = strata::render_chat_template(source, "fuzz.jinja", inputs(), limits);
  if (out.is_ok() && out->size() == 424242) return 0;  // keeps `out` alive
  return 0;
}
