// libFuzzer target: arbitrary bytes as the body of a /v1/chat/completions (first byte odd) or
// /v1/completions request, through the same parser, chat template and tokenizer the server
// uses (the bundled stories260K vocabulary, ChatML). Every input must give a request or an
// ApiError: no crash, no hang, no allocation sized by a field of the body.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "chat/chat_template.h"
#include "server/openai.h"
#include "tokenizer/tokenizer.h"

namespace {

const strata::Tokenizer& tokenizer() {
  static const std::unique_ptr<strata::Tokenizer> tok = [] {
    auto t = strata::Tokenizer::from_file(STRATA_FUZZ_DATA "/models/stories260K.gguf");
    if (!t.is_ok()) {
      std::fprintf(stderr, "%s\n", t.status().message().c_str());
      std::abort();
    }
    return std::move(*t);
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool chat = data[0] & 1;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const strata::ChatRenderer render = [](const strata::ApiJson& messages,
                                         const strata::ApiJson& tools, bool add_generation_prompt) {
    strata::ChatTemplateInputs in;
    in.messages = messages;
    in.tools = tools;
    in.add_generation_prompt = add_generation_prompt;
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    return strata::render_chat_template(strata::kFallbackChatTemplate, "fallback", in);
  };
  const strata::ApiLimits limits{"model", 512};
  auto r = strata::parse_api_request(body, chat, limits, tokenizer(), render);
  if (auto* e = std::get_if<strata::ApiError>(&r)) {
    (void)strata::api_dump(e->to_json());
  }
  return 0;
}
