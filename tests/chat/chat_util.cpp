// Shared helpers of the chat-template tests (see chat_util.h).
#include "chat/chat_util.h"

#include <fstream>
#include <sstream>

namespace strata::testing {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

namespace {

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::vector<ReferenceCase> load_cases() {
  const auto doc = nlohmann::ordered_json::parse(read_file(kChatData + "/expected.json"));
  std::vector<ReferenceCase> cases;
  for (const auto& c : doc["cases"]) {
    ReferenceCase r;
    r.template_file = c["template"].get<std::string>();
    const std::string conv = c["conversation"].get<std::string>();
    const auto& conversation = doc["conversations"][conv];
    r.inputs.messages = conversation["messages"];
    r.inputs.tools =
        conversation.contains("tools") ? conversation["tools"] : nlohmann::ordered_json();
    r.inputs.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    r.inputs.bos_token = c["bos_token"].get<std::string>();
    r.inputs.eos_token = c["eos_token"].get<std::string>();
    r.inputs.extra_context = c["extra_context"];
    r.inputs.now = doc["now"].get<std::time_t>();
    std::string extra;
    for (const auto& [k, v] : c["extra_context"].items()) extra += k + "_" + v.dump();
    r.name = safe_name(r.template_file.substr(0, r.template_file.find('.')) + "_" + conv + "_" +
                       (extra.empty() ? "" : extra + "_") +
                       (r.inputs.add_generation_prompt ? "gen" : "nogen"));
    r.is_error = c.contains("error");
    r.expected = r.is_error ? c["error"].get<std::string>() : c["expected"].get<std::string>();
    cases.push_back(std::move(r));
  }
  return cases;
}

}  // namespace

const std::vector<ReferenceCase>& reference_cases() {
  static const std::vector<ReferenceCase> cases = load_cases();
  return cases;
}

Result<std::string> render(const std::string& source, const std::string& messages_json,
                           const std::string& extra_json) {
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(messages_json);
  in.extra_context = nlohmann::ordered_json::parse(extra_json);
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  return render_chat_template(source, "test.jinja", in);
}

}  // namespace strata::testing
