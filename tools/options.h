#pragma once
// Options declared once, with their help text, shared by run, bench and later serve.
#include <CLI/CLI.hpp>

#include "strata/engine.h"

namespace strata::cli {

// -m, --tokenizer, -t, -c, -b.
void add_engine_options(CLI::App& app, EngineOptions* opts);
// -p, -f, -n, --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed,
// --ignore-eos, --special.
struct PromptOptions {
  std::string prompt_file;
  bool seed_given = false;
};
void add_generate_options(CLI::App& app, GenerateOptions* opts, PromptOptions* prompt);
// Resolves -f and a default seed; logs the seed it chose.
Status finish_generate_options(GenerateOptions* opts, const PromptOptions& prompt);

}  // namespace strata::cli
