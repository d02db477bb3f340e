#include "tools/options.h"

#include <random>

#include "core/file.h"
#include "core/log.h"
#include "tools/commands.h"

namespace strata::cli {

void add_engine_options(CLI::App& app, EngineOptions* o) {
  o->model_path = default_model_path();
  app.add_option("-m,--model", o->model_path,
                 "Model: a GGUF file, a Hugging Face directory (config.json + safetensors) or a "
                 "llama2.c .bin checkpoint (default: the bundled stories260K)");
  app.add_option("--tokenizer", o->tokenizer_path,
                 "Tokenizer override: tokenizer.json, a GGUF vocabulary or a llama2.c tokenizer .bin");
  app.add_option("-t,--threads", o->n_threads, "Compute threads (default: all hardware threads)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-c,--ctx-size", o->n_ctx,
                 "Context length in tokens (default: the model's training context, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-b,--batch-size", o->n_batch, "Most prompt tokens per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

void add_generate_options(CLI::App& app, GenerateOptions* g, PromptOptions* p) {
  app.add_option("-p,--prompt", g->prompt, "Prompt text");
  app.add_option("-f,--file", p->prompt_file, "Read the prompt from a file");
  app.add_option("-n,--n-predict", g->n_predict, "New tokens to generate (-1: until EOS)")
      ->capture_default_str();
  app.add_option("--temp", g->sampling.temperature, "Temperature (0 = greedy)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--top-k", g->sampling.top_k, "Top-k sampling (0 = off)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", g->sampling.top_p, "Top-p (nucleus) sampling (1 = off)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--min-p", g->sampling.min_p, "Min-p sampling (0 = off)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--repeat-penalty", g->sampling.repeat_penalty, "Repetition penalty (1 = off)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--repeat-last-n", g->sampling.repeat_last_n, "Tokens the penalty looks back")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("-s,--seed", g->sampling.seed, "Random seed (default: random, printed)")
      ->each([p](const std::string&) { p->seed_given = true; });
  app.add_flag("--ignore-eos", g->ignore_eos, "Keep generating after end-of-generation tokens");
  app.add_flag("--special", g->parse_special,
               "Parse special-token text such as <|begin_of_text|> in the prompt");
}

Status finish_generate_options(GenerateOptions* g, const PromptOptions& p) {
  if (!p.prompt_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(g->prompt, read_file_to_string(p.prompt_file, 64 << 20));
  }
  if (!p.seed_given) {
    g->sampling.seed = std::random_device{}();
  }
  return Status::ok();
}

}  // namespace strata::cli
