#include "server/model_template.h"

#include <filesystem>

#include "model/model_source.h"
#include "tokenizer/tokenizer.h"

namespace strata {

Result<ChatTemplate> model_chat_template(const ModelSource& model, const Tokenizer& tok) {
  ChatTemplate t;
  if (model.format == ModelFormat::kGguf) {
    STRATA_ASSIGN_OR_RETURN(t, chat_template_from_gguf(model.meta, model.path));
  } else if (model.format == ModelFormat::kSafetensors && !model.tokenizer_json.empty()) {
    const auto config =
        std::filesystem::path(model.tokenizer_json).parent_path() / "tokenizer_config.json";
    std::error_code ec;
    if (std::filesystem::exists(config, ec)) {
      STRATA_ASSIGN_OR_RETURN(t, chat_template_from_tokenizer_config(config.string()));
    } else {
      t.is_fallback = true;
    }
  } else {
    t.is_fallback = true;
  }
  if (t.is_fallback) {
    t.source = std::string(kFallbackChatTemplate);
    if (t.name.empty()) t.name = "fallback (ChatML)";
  }
  // Special tokens the template did not name come from the tokenizer.
  const SpecialTokens& sp = tok.special();
  if (t.bos_token.empty() && sp.bos >= 0) t.bos_token = tok.token_text(sp.bos);
  if (t.eos_token.empty() && sp.eos >= 0) t.eos_token = tok.token_text(sp.eos);
  return t;
}

ChatRenderer make_chat_renderer(ChatTemplate t) {
  return [t = std::move(t)](const ApiJson& messages, const ApiJson& tools,
                            bool add_generation_prompt) -> Result<std::string> {
    ChatTemplateInputs in;
    in.messages = messages;
    in.tools = tools;
    in.add_generation_prompt = add_generation_prompt;
    in.bos_token = t.bos_token;
    in.eos_token = t.eos_token;
    return render_chat_template(t.source, t.name, in);
  };
}

}  // namespace strata
