#pragma once
// A model's chat template, for serve and chat: the GGUF's
// tokenizer.chat_template, the tokenizer_config.json beside a Hugging Face
// model's tokenizer.json, or else the documented fallback
// (chat/chat_template.h) with the tokenizer's BOS and EOS.

#include "chat/chat_template.h"
#include "server/openai.h"

namespace strata {

struct ModelSource;
class Tokenizer;

[[nodiscard]] Result<ChatTemplate> model_chat_template(const ModelSource& model,
                                                       const Tokenizer& tok);
// Renders OpenAI messages with `t` (thread-safe: the renderer owns a copy of
// the template).
ChatRenderer make_chat_renderer(ChatTemplate t);

}  // namespace strata
