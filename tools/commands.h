#pragma once
// Sub-command registry of the strata CLI. Each cmd_*.cpp adds one Command.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::cli {

// setup_fn declares the sub-command and its options on `app` and returns it; run() is
// called when that sub-command was given on the command line and returns the exit code.
struct Command {
  CLI::App* sub = nullptr;
  std::function<CLI::App*(CLI::App&)> setup_fn;
  std::function<int()> run;
  void setup(CLI::App& app) { sub = setup_fn(app); }
};

Command run_command();
Command inspect_command();
Command tokenize_command();
Command convert_command();
Command bench_command();
Command make_model_command();
Command quantize_command();
Command template_command();
Command serve_command();
Command chat_command();

std::vector<Command> all_commands();

// Prints "strata: error: <message>" to stderr and returns the exit code 1.
int fail(const Status& s);

// The bundled model used when -m is not given (models/stories260K.gguf in the data folder).
[[nodiscard]] Result<std::string> bundled_model_path();

// A CLI11 validator for path options: an empty value is an error, not "the default".
CLI::Validator non_empty_path();

}  // namespace strata::cli
