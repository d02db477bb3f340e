#pragma once
// The OpenAI API's request and response shapes (chat completions, completions),
// for strata serve: validation with OpenAI's error object, and the JSON of
// responses and SSE chunks. No I/O here, so all of it is tested without a
// socket.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "strata/engine.h"

namespace strata {

// Objects keep their keys in the order given (tool schemas and arguments reach
// the template as the client wrote them, as Python's dicts keep them).
using ApiJson = nlohmann::ordered_json;

// JSON text for the wire; bytes that are not valid UTF-8 (a model can emit
// them) become U+FFFD, as JSON requires.
std::string api_dump(const ApiJson& j);

// An error answered with OpenAI's error object:
// {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" = null
  std::string code;   // "" = null
  ApiJson to_json() const;
};

// Renders an OpenAI `messages` array (and `tools`, null when absent) into
// prompt text with the model's chat template.
using ChatRenderer = std::function<Result<std::string>(
    const ApiJson& messages, const ApiJson& tools, bool add_generation_prompt)>;

struct ApiRequest {
  bool chat = false;  // /v1/chat/completions, else /v1/completions
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string prompt_text;     // the rendered chat prompt, or the completion prompt
  GenerateOptions gen;         // prompt_tokens filled; sampling, stop, n_predict
};

struct ApiLimits {
  std::string model_id;  // the one model served; requests naming another get a 404
  int64_t n_ctx = 0;     // prompt + max_tokens must fit
};

// Parses and checks a request body. `tok` tokenizes the prompt; the chat prompt
// is the rendered template, its special tokens parsed, with BOS added unless
// the text starts with it. A completion prompt is tokenized as `strata run -p`
// does (model's BOS, text as text), or given as an array of token ids.
[[nodiscard]] std::variant<ApiRequest, ApiError> parse_api_request(const std::string& body,
                                                                   bool chat,
                                                                   const ApiLimits& limits,
                                                                   const Tokenizer& tok,
                                                                   const ChatRenderer& render);

// A rendered chat prompt as tokens: its special-token text parsed, and the model's BOS added
// unless the template already wrote it (as Hugging Face templates with bos_token do).
std::vector<int32_t> encode_chat_prompt(const Tokenizer& tok, std::string_view text);

// "stop" (end of generation, stop string), "length" (max_tokens, context full).
const char* api_finish_reason(FinishReason r);

// A response id such as "chatcmpl-3f2a9c..." (random, 24 hex digits).
std::string make_response_id(bool chat);

ApiJson api_usage(const GenerateStats& st);
// The whole (non-streamed) response.
ApiJson api_response(const ApiRequest& r, const std::string& id, int64_t created,
                     const std::string& model_id, const std::string& text, const GenerateStats& st);
// One SSE chunk: text (delta) when finish is kNone, else the closing chunk with
// the finish reason. `first` adds the assistant role to a chat delta.
ApiJson api_chunk(const ApiRequest& r, const std::string& id, int64_t created,
                  const std::string& model_id, const std::string& text, bool first,
                  FinishReason finish);
// The final usage chunk (stream_options.include_usage): empty choices and the
// usage.
ApiJson api_usage_chunk(const ApiRequest& r, const std::string& id, int64_t created,
                        const std::string& model_id, const GenerateStats& st);

}  // namespace strata
