// Chat templates (see chat_template.h).
#include "chat/chat_template.h"

#include <fmt/format.h>

#include <filesystem>

#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"
#include "core/file.h"

namespace strata {

namespace {

using jinja::Value;

// tokenizer_config.json files are small; chat templates a few KiB (Qwen3's is ~4).
constexpr uint64_t kMaxConfigBytes = 64ull << 20;

// transformers' strftime_now: datetime.now().strftime(fmt), i.e. local time.
Value strftime_now(std::time_t now, const jinja::CallArgs& a) {
  if (a.pos.empty() || !a.pos[0].is_string()) jinja::fail("strftime_now expects a format string");
  const std::string& fmt = a.pos[0].str();
  if (fmt.size() > 1024) jinja::fail("strftime_now format too long");
  const std::time_t t = now != 0 ? now : std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::string buf(fmt.size() * 64 + 64, '\0');
  const size_t n = fmt.empty() ? 0 : std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  buf.resize(n);
  return Value::string(std::move(buf));
}

Result<Value> make_context(const ChatTemplateInputs& in) {
  if (!in.messages.is_array()) return Status::error("messages must be a JSON array");
  if (!in.tools.is_null() && !in.tools.is_array()) {
    return Status::error("tools must be a JSON array (or null)");
  }
  if (!in.extra_context.is_null() && !in.extra_context.is_object()) {
    return Status::error("extra context must be a JSON object");
  }
  try {
    Value ctx = Value::dict();
    jinja::Dict& d = ctx.dict_ref();
    d.set(Value::string("messages"), Value::from_json(in.messages));
    d.set(Value::string("tools"), Value::from_json(in.tools));
    d.set(Value::string("documents"), Value::none());
    d.set(Value::string("add_generation_prompt"), Value::boolean(in.add_generation_prompt));
    d.set(Value::string("bos_token"), Value::string(in.bos_token));
    d.set(Value::string("eos_token"), Value::string(in.eos_token));
    d.set(Value::string("raise_exception"),
          Value::callable("raise_exception", [](jinja::Interp&, jinja::CallArgs& a) -> Value {
            jinja::fail(a.pos.empty() ? std::string("raise_exception called")
                                      : jinja::to_str(a.pos[0]));
          }));
    const std::time_t now = in.now;
    d.set(Value::string("strftime_now"),
          Value::callable("strftime_now", [now](jinja::Interp&, jinja::CallArgs& a) {
            return strftime_now(now, a);
          }));
    if (in.extra_context.is_object()) {
      for (const auto& [k, v] : in.extra_context.items()) {
        d.set(Value::string(k), Value::from_json(v));
      }
    }
    return ctx;
  } catch (const jinja::JinjaError& e) {
    return Status::error(e.message);
  }
}

// bos_token / eos_token in tokenizer_config.json: a string, {"content": ...}, or null.
std::string config_token(const nlohmann::json& cfg, const char* key) {
  if (!cfg.contains(key)) return "";
  const nlohmann::json& t = cfg[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string()) {
    return t["content"].get<std::string>();
  }
  return "";
}

std::string gguf_token(const Metadata& meta, const char* id_key) {
  const std::optional<int64_t> id = meta_int(meta, id_key);
  const std::vector<MetaValue>* tokens = meta_array(meta, "tokenizer.ggml.tokens");
  if (!id || tokens == nullptr || *id < 0 || *id >= static_cast<int64_t>(tokens->size())) return "";
  return (*tokens)[*id].as_string().value_or("");
}

}  // namespace

Result<std::string> render_chat_template(std::string_view template_source,
                                         std::string_view template_name,
                                         const ChatTemplateInputs& in,
                                         const jinja::RenderLimits& limits) {
  // Interpreter errors start with "line:col: ", so the name joins them without a space.
  const auto located = [&](const Status& s) {
    return Status::error(fmt::format("{}:{}", template_name, s.message()));
  };
  auto tpl = jinja::parse_template(template_source);
  if (!tpl.is_ok()) return located(tpl.status());
  auto ctx = make_context(in);
  if (!ctx.is_ok()) return ctx.status().with_context(std::string(template_name));
  auto out = jinja::render_template(**tpl, *ctx, limits);
  if (!out.is_ok()) return located(out.status());
  return out;
}

Result<ChatTemplate> chat_template_from_gguf(const Metadata& meta, const std::string& file_name) {
  ChatTemplate t;
  t.bos_token = gguf_token(meta, "tokenizer.ggml.bos_token_id");
  t.eos_token = gguf_token(meta, "tokenizer.ggml.eos_token_id");
  if (std::optional<std::string> src = meta_string(meta, "tokenizer.chat_template")) {
    t.source = std::move(*src);
    t.name = file_name + ":tokenizer.chat_template";
  } else {
    t.source = std::string(kFallbackChatTemplate);
    t.name = "fallback ChatML template";
    t.is_fallback = true;
  }
  return t;
}

Result<ChatTemplate> chat_template_from_tokenizer_config(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(const std::string text, read_file_to_string(path, kMaxConfigBytes));
  const nlohmann::json cfg = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (cfg.is_discarded() || !cfg.is_object()) {
    return Status::errorf("{}: not a JSON object", path);
  }
  ChatTemplate t;
  t.bos_token = config_token(cfg, "bos_token");
  t.eos_token = config_token(cfg, "eos_token");
  t.name = path + ":chat_template";
  const nlohmann::json ct = cfg.contains("chat_template") ? cfg["chat_template"] : nlohmann::json();
  if (ct.is_string()) {
    t.source = ct.get<std::string>();
    return t;
  }
  if (ct.is_array()) {
    std::string names;
    for (const auto& e : ct) {
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) continue;
      const std::string name = e["name"].get<std::string>();
      if (name == "default" && e.contains("template") && e["template"].is_string()) {
        t.source = e["template"].get<std::string>();
        t.name = path + ":chat_template[default]";
        return t;
      }
      names += (names.empty() ? "" : ", ") + name;
    }
    return Status::errorf("{}: chat_template lists templates ({}) but none named 'default'", path,
                          names);
  }
  if (!ct.is_null())
    return Status::errorf("{}: chat_template is neither a string nor a list", path);
  const std::filesystem::path jinja_path =
      std::filesystem::path(path).parent_path() / "chat_template.jinja";
  std::error_code ec;
  if (std::filesystem::is_regular_file(jinja_path, ec)) {
    STRATA_ASSIGN_OR_RETURN(t.source, read_file_to_string(jinja_path.string(), kMaxConfigBytes));
    t.name = jinja_path.string();
    return t;
  }
  t.source = std::string(kFallbackChatTemplate);
  t.name = "fallback ChatML template";
  t.is_fallback = true;
  return t;
}

}  // namespace strata
