#pragma once
// Chat templates: a conversation -> the prompt text a model was trained on, as Hugging Face
// transformers' apply_chat_template renders it. The template is the model's own Jinja text
// (GGUF tokenizer.chat_template, tokenizer_config.json's chat_template or chat_template.jinja),
// interpreted by strata's Jinja interpreter (jinja_*.h) configured as transformers configures
// jinja2: trim_blocks, lstrip_blocks, loop controls, its tojson, raise_exception and
// strftime_now.

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "chat/jinja_eval.h"
#include "core/status.h"
#include "format/metadata.h"

namespace strata {

struct ChatTemplateInputs {
  // OpenAI-style messages: [{"role", "content", "tool_calls", "name", ...}]. ordered_json
  // keeps each object's keys in the order given, as Python's dicts do: templates print tool
  // schemas and call arguments with tojson, and the model was trained on that order.
  nlohmann::ordered_json messages;
  nlohmann::ordered_json tools;  // null, or an array of tool schemas
  bool add_generation_prompt = true;
  std::string bos_token, eos_token;      // as tokenizer_config.json / GGUF give them
  nlohmann::ordered_json extra_context;  // object merged into the top-level context
  std::time_t now = 0;                   // for strftime_now (local time); 0 = current time
};

// Renders `template_source` with the context transformers gives a chat template: messages,
// tools and documents (none when not given, as transformers passes them), add_generation_prompt,
// bos_token, eos_token, the entries of extra_context (e.g. enable_thinking), and the functions
// raise_exception(msg) and strftime_now(fmt). Errors name the template and the line and
// column: "<template_name>:<line>:<col>: <what>", for a syntax error, an error the template
// raises, undefined.attr, a type error, or a render past `limits` (by default 16 MiB of
// output, 2M loop iterations and calls, 1 GiB of strings built, 500 levels of nesting).
// Never throws, never aborts.
[[nodiscard]] Result<std::string> render_chat_template(std::string_view template_source,
                                                       std::string_view template_name,
                                                       const ChatTemplateInputs& in,
                                                       const jinja::RenderLimits& limits = {});

// The template used for a model that has none: ChatML, as transformers' old
// default_chat_template and llama.cpp's fallback. It is the most widely trained-on format
// (Qwen, Hermes, many fine-tunes), and its tags carry no model-specific special tokens, so on
// a model trained on something else it still reads as plain, role-labelled text.
inline constexpr std::string_view kFallbackChatTemplate =
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// A model's chat template and the special tokens it refers to.
struct ChatTemplate {
  std::string source;     // Jinja text
  std::string name;       // where it came from, for messages
  std::string bos_token;  // "" when the model has none
  std::string eos_token;
  bool is_fallback = false;  // source is kFallbackChatTemplate
};

// From GGUF metadata: tokenizer.chat_template, BOS/EOS as the text of tokens
// tokenizer.ggml.bos_token_id / eos_token_id in tokenizer.ggml.tokens. The fallback when the
// file has no template. `file_name` prefixes the template's name.
[[nodiscard]] Result<ChatTemplate> chat_template_from_gguf(const Metadata& meta,
                                                           const std::string& file_name);

// From a Hugging Face tokenizer_config.json: "chat_template" as a string, or a list of
// {"name", "template"} (the one named "default"); else chat_template.jinja beside it (newer
// transformers save it there); else the fallback. bos_token / eos_token as a string or
// {"content": ...}. Errors: unreadable or invalid JSON, a template list without "default".
[[nodiscard]] Result<ChatTemplate> chat_template_from_tokenizer_config(const std::string& path);

}  // namespace strata
