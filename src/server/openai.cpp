#include "server/openai.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "tokenizer/tokenizer.h"

namespace strata {

using json = ApiJson;

std::string api_dump(const ApiJson& j) {
  return j.dump(-1, ' ', false, ApiJson::error_handler_t::replace);
}

json ApiError::to_json() const {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

namespace {

ApiError bad(const std::string& param, std::string message) {
  ApiError e;
  e.message = std::move(message);
  e.param = param;
  return e;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

// Optional number in [lo, hi]; null or absent leaves *out alone.
std::optional<ApiError> get_number(const json& body, const char* key, double lo, double hi,
                                   double* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) {
    return bad(key, fmt::format("'{}' must be a number, got {}", key, type_name(*it)));
  }
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return bad(key, fmt::format("'{}' must be in [{}, {}], got {}", key, lo, hi, api_dump(*it)));
  }
  *out = v;
  return std::nullopt;
}

std::optional<ApiError> get_integer(const json& body, const char* key, int64_t lo, int64_t hi,
                                    int64_t* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) {
    return bad(key, fmt::format("'{}' must be an integer, got {}", key, type_name(*it)));
  }
  if (it->is_number_unsigned() ? it->get<uint64_t>() > static_cast<uint64_t>(hi)
                               : (it->get<int64_t>() < lo || it->get<int64_t>() > hi)) {
    return bad(key, fmt::format("'{}' must be in [{}, {}], got {}", key, lo, hi, api_dump(*it)));
  }
  *out = it->get<int64_t>();
  return std::nullopt;
}

std::optional<ApiError> get_bool(const json& body, const char* key, bool* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) {
    return bad(key, fmt::format("'{}' must be a boolean, got {}", key, type_name(*it)));
  }
  *out = it->get<bool>();
  return std::nullopt;
}

// Text of a message's content: a string, null, or an array of {"type": "text",
// "text"} parts.
std::optional<ApiError> check_messages(const json& body, json* messages) {
  auto it = body.find("messages");
  if (it == body.end()) return bad("messages", "'messages' is required");
  if (!it->is_array()) {
    return bad("messages", fmt::format("'messages' must be an array, got {}", type_name(*it)));
  }
  if (it->empty()) return bad("messages", "'messages' must not be empty");
  *messages = json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string p = fmt::format("messages[{}]", i);
    if (!m.is_object()) return bad(p, fmt::format("'{}' must be an object", p));
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return bad(p + ".role", fmt::format("'{}.role' must be a string", p));
    }
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool") {
      return bad(p + ".role", fmt::format("'{}.role' must be system, developer, user, assistant "
                                          "or tool, got '{}'",
                                          p, r));
    }
    json out = m;
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      if (r != "assistant") return bad(p + ".content", fmt::format("'{}.content' is required", p));
      out["content"] = nullptr;
    } else if (content->is_array()) {
      // Text parts are joined, as OpenAI reads them; other part types are not
      // supported.
      std::string text;
      for (const json& part : *content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          return bad(p + ".content", fmt::format("'{}.content' parts must be {{\"type\": \"text\", "
                                                 "\"text\": string}}",
                                                 p));
        }
        text += part["text"].get<std::string>();
      }
      out["content"] = text;
    } else if (!content->is_string()) {
      return bad(p + ".content", fmt::format("'{}.content' must be a string, an array of text "
                                             "parts or null, got {}",
                                             p, type_name(*content)));
    }
    messages->push_back(std::move(out));
  }
  return std::nullopt;
}

}  // namespace

std::variant<ApiRequest, ApiError> parse_api_request(const std::string& body_text, bool chat,
                                                     const ApiLimits& limits, const Tokenizer& tok,
                                                     const ChatRenderer& render) {
  json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return bad("", "the request body is not valid JSON");
  if (!body.is_object()) return bad("", "the request body must be a JSON object");
  ApiRequest r;
  r.chat = chat;
  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad("model", "'model' must be a string");
    if (it->get<std::string>() != limits.model_id) {
      ApiError e = bad("model", fmt::format("The model '{}' does not exist; this server has '{}'",
                                            it->get<std::string>(), limits.model_id));
      e.http_status = 404;
      e.code = "model_not_found";
      return e;
    }
  }
  if (auto e = get_bool(body, "stream", &r.stream)) return *e;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad("stream_options", "'stream_options' must be an object");
    if (auto e = get_bool(*it, "include_usage", &r.include_usage)) return *e;
  }
  int64_t n = 1;
  if (auto e = get_integer(body, "n", 1, 128, &n)) return *e;
  if (n != 1) return bad("n", "only n = 1 is supported");
  if (auto it = body.find("logprobs");
      it != body.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>())) {
    return bad("logprobs", "logprobs are not supported");
  }
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    double v = 0;
    if (auto e = get_number(body, key, -2, 2, &v)) return *e;
    if (v != 0) return bad(key, fmt::format("'{}' is not supported; use 'repeat_penalty'", key));
  }

  SamplerOptions& s = r.gen.sampling;
  double temperature = s.temperature, top_p = s.top_p, min_p = s.min_p, rp = s.repeat_penalty;
  if (auto e = get_number(body, "temperature", 0, 2, &temperature)) return *e;
  if (auto e = get_number(body, "top_p", 0, 1, &top_p)) return *e;
  if (auto e = get_number(body, "min_p", 0, 1, &min_p)) return *e;
  if (auto e = get_number(body, "repeat_penalty", 0.01, 100, &rp)) return *e;
  int64_t top_k = s.top_k, seed = -1, max_tokens = -1;
  if (auto e = get_integer(body, "top_k", 0, 1 << 30, &top_k)) return *e;
  if (auto e = get_integer(body, "seed", INT64_MIN, INT64_MAX, &seed)) return *e;
  if (auto e = get_integer(body, "max_tokens", 0, 1 << 30, &max_tokens)) return *e;
  if (auto e = get_integer(body, "max_completion_tokens", 0, 1 << 30, &max_tokens)) return *e;
  s.temperature = static_cast<float>(temperature);
  s.top_p = static_cast<float>(top_p);
  s.min_p = static_cast<float>(min_p);
  s.repeat_penalty = static_cast<float>(rp);
  s.top_k = static_cast<int32_t>(top_k);
  // Without a seed each request draws its own, as OpenAI and llama-server do.
  s.seed = body.contains("seed") && !body["seed"].is_null() ? static_cast<uint64_t>(seed)
                                                            : std::random_device{}();
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      r.gen.stop.push_back(it->get<std::string>());
    } else if (it->is_array() && it->size() <= 4) {
      for (const json& v : *it) {
        if (!v.is_string()) return bad("stop", "'stop' must be a string or an array of strings");
        r.gen.stop.push_back(v.get<std::string>());
      }
    } else {
      return bad("stop", "'stop' must be a string or an array of at most 4 strings");
    }
    for (const std::string& st : r.gen.stop) {
      if (st.empty()) return bad("stop", "'stop' strings must not be empty");
    }
  }

  if (chat) {
    json messages;
    if (auto e = check_messages(body, &messages)) return *e;
    json tools = nullptr;
    if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
      if (!it->is_array()) return bad("tools", "'tools' must be an array");
      tools = *it;
    }
    Result<std::string> text = render(messages, tools, true);
    if (!text.is_ok()) return bad("messages", text.status().message());
    r.prompt_text = std::move(*text);
    r.gen.prompt_tokens = encode_chat_prompt(tok, r.prompt_text);
  } else {
    auto it = body.find("prompt");
    if (it == body.end()) return bad("prompt", "'prompt' is required");
    if (it->is_string()) {
      r.prompt_text = it->get<std::string>();
    } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
      r.prompt_text = (*it)[0].get<std::string>();
    } else if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
      for (const json& v : *it) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= tok.n_vocab()) {
          return bad("prompt", fmt::format("token ids in 'prompt' must be integers in [0, {})",
                                           tok.n_vocab()));
        }
        r.gen.prompt_tokens.push_back(static_cast<int32_t>(v.get<int64_t>()));
      }
    } else {
      return bad("prompt",
                 "'prompt' must be a string, an array of one string, or an array of "
                 "token ids");
    }
    if (r.gen.prompt_tokens.empty()) {
      r.gen.prompt_tokens = tok.encode(r.prompt_text, tok.special().add_bos, false);
      if (r.gen.prompt_tokens.empty() && tok.special().bos >= 0) {
        r.gen.prompt_tokens.push_back(tok.special().bos);
      }
      if (r.gen.prompt_tokens.empty()) return bad("prompt", "'prompt' must not be empty");
    }
  }
  const int64_t n_prompt = static_cast<int64_t>(r.gen.prompt_tokens.size());
  if (n_prompt >= limits.n_ctx) {
    ApiError e = bad(chat ? "messages" : "prompt",
                     fmt::format("This model's context is {} tokens; the prompt has {}",
                                 limits.n_ctx, n_prompt));
    e.code = "context_length_exceeded";
    return e;
  }
  // Without max_tokens: until end of generation or the context is full.
  r.gen.n_predict = max_tokens;
  return r;
}

std::vector<int32_t> encode_chat_prompt(const Tokenizer& tok, std::string_view text) {
  const SpecialTokens& sp = tok.special();
  const std::string bos = sp.bos >= 0 ? tok.token_text(sp.bos) : "";
  const bool has_bos = !bos.empty() && text.substr(0, bos.size()) == bos;
  return tok.encode(text, sp.add_bos && !has_bos, /*parse_special=*/true);
}

const char* api_finish_reason(FinishReason r) {
  switch (r) {
    case FinishReason::kLength:
    case FinishReason::kContextFull:
      return "length";
    default:
      return "stop";
  }
}

std::string make_response_id(bool chat) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}-{:016x}{:08x}", chat ? "chatcmpl" : "cmpl", rng(),
                     static_cast<uint32_t>(rng()));
}

json api_usage(const GenerateStats& st) {
  return {{"prompt_tokens", st.n_prompt_tokens},
          {"completion_tokens", st.n_generated},
          {"total_tokens", st.n_prompt_tokens + st.n_generated},
          {"prompt_tokens_details", {{"cached_tokens", st.n_cached_tokens}}}};
}

json api_response(const ApiRequest& r, const std::string& id, int64_t created,
                  const std::string& model_id, const std::string& text, const GenerateStats& st) {
  json choice = {
      {"index", 0}, {"finish_reason", api_finish_reason(st.finish)}, {"logprobs", nullptr}};
  if (r.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  return {{"id", id},
          {"object", r.chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model_id},
          {"choices", json::array({choice})},
          {"usage", api_usage(st)}};
}

json api_chunk(const ApiRequest& r, const std::string& id, int64_t created,
               const std::string& model_id, const std::string& text, bool first,
               FinishReason finish) {
  json choice = {{"index", 0},
                 {"finish_reason",
                  finish == FinishReason::kNone ? json(nullptr) : json(api_finish_reason(finish))},
                 {"logprobs", nullptr}};
  if (r.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (finish == FinishReason::kNone) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = finish == FinishReason::kNone ? text : "";
  }
  return {{"id", id},
          {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model_id},
          {"choices", json::array({choice})}};
}

json api_usage_chunk(const ApiRequest& r, const std::string& id, int64_t created,
                     const std::string& model_id, const GenerateStats& st) {
  return {{"id", id},
          {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model_id},
          {"choices", json::array()},
          {"usage", api_usage(st)}};
}

}  // namespace strata
