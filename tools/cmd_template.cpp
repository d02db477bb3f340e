// strata template: the prompt a model's chat template makes of a conversation, printed
// exactly (no newline added), as transformers' apply_chat_template(tokenize=False) gives it.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "chat/chat_template.h"
#include "core/file.h"
#include "format/gguf.h"
#include "format/hf_dir.h"
#include "model/model_source.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

struct TemplateArgs {
  std::string model;
  std::string tokenizer_config;
  std::string messages;
  std::string tools;
  bool no_generation_prompt = false;
};

// Conversation files are small; this bounds a mistaken path to a huge file.
constexpr uint64_t kMaxJsonBytes = 256ull << 20;

Result<nlohmann::ordered_json> read_json(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(const std::string text, read_file_to_string(path, kMaxJsonBytes));
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::errorf("{}: not valid JSON", path);
  return j;
}

bool is_gguf(const std::string& path) {
  auto f = File::open(path);  // never blocks on a FIFO
  char magic[4] = {};
  return f && f->size_bytes() >= 4 && f->read_at(0, magic, 4) &&
         std::string_view(magic, 4) == "GGUF";
}

// --tokenizer-config: that file. -m: a GGUF's metadata, a Hugging Face directory's
// tokenizer_config.json, or (other formats carry no template) the fallback.
Result<ChatTemplate> find_template(const TemplateArgs& a) {
  if (!a.tokenizer_config.empty()) return chat_template_from_tokenizer_config(a.tokenizer_config);
  std::string path = a.model;
  if (path.empty()) {
    STRATA_ASSIGN_OR_RETURN(path, bundled_model_path());
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    STRATA_ASSIGN_OR_RETURN(HfDir dir, open_hf_dir(path));
    if (dir.tokenizer_config_path.empty()) {
      return Status::errorf("{}: no tokenizer_config.json, so no chat template", path);
    }
    return chat_template_from_tokenizer_config(dir.tokenizer_config_path);
  }
  if (is_gguf(path)) {
    STRATA_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(path));
    return chat_template_from_gguf(g.meta, path);
  }
  STRATA_ASSIGN_OR_RETURN(ModelSource model, open_model(path));
  return chat_template_from_gguf(model.meta, path);
}

int template_main(const TemplateArgs& a) {
  auto tpl = find_template(a);
  if (!tpl) return fail(tpl.status());
  ChatTemplateInputs in;
  auto messages = read_json(a.messages);
  if (!messages) return fail(messages.status());
  // An array of messages, or a chat request body {"messages": [...], "tools": [...]}.
  if (messages->is_object() && messages->contains("messages")) {
    if (messages->contains("tools")) in.tools = (*messages)["tools"];
    in.messages = (*messages)["messages"];
  } else {
    in.messages = std::move(*messages);
  }
  if (!in.messages.is_array()) {
    return fail(
        Status::errorf("{}: expected a JSON array of messages (or an object with "
                       "\"messages\")",
                       a.messages));
  }
  if (!a.tools.empty()) {
    auto tools = read_json(a.tools);
    if (!tools) return fail(tools.status());
    in.tools = std::move(*tools);
  }
  in.add_generation_prompt = !a.no_generation_prompt;
  in.bos_token = tpl->bos_token;
  in.eos_token = tpl->eos_token;
  if (tpl->is_fallback) {
    std::fprintf(stderr, "strata: the model has no chat template; using the ChatML fallback\n");
  }
  auto out = render_chat_template(tpl->source, tpl->name, in);
  if (!out) return fail(out.status());
  std::fwrite(out->data(), 1, out->size(), stdout);
  return 0;
}

}  // namespace

Command template_command() {
  auto args = std::make_shared<TemplateArgs>();
  Command c;
  c.run = [args] { return template_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "template", "Print the prompt a model's chat template makes of a conversation");
    auto* m = sub->add_option("-m,--model", args->model,
                              "GGUF file or Hugging Face model directory (default: the bundled "
                              "model)")
                  ->check(non_empty_path());
    auto* t = sub->add_option("--tokenizer-config", args->tokenizer_config,
                              "A Hugging Face tokenizer_config.json instead of a model")
                  ->check(non_empty_path());
    m->excludes(t);
    sub->add_option("--messages", args->messages,
                    "JSON file: an array of messages, or {\"messages\": [...], \"tools\": [...]}")
        ->required()
        ->check(non_empty_path());
    sub->add_option("--tools", args->tools, "JSON file: an array of tool schemas")
        ->check(non_empty_path());
    sub->add_flag("--no-generation-prompt", args->no_generation_prompt,
                  "Do not end with the assistant's turn header (add_generation_prompt=false)");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
