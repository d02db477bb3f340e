#pragma once
// Sub-command registry of the strata CLI. Each cmd_*.cpp adds one Command.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::cli {

struct Command {
  CLI::App* sub = nullptr;
  std::function<void(CLI::App&)> setup_fn;  // declares sub-command and options
  std::function<int()> run;
  void setup(CLI::App& app) { setup_fn(app); }
};

std::vector<Command> all_commands();

// Prints "strata: error: <message>" to stderr and returns the exit code 1.
int fail(const Status& s);

// The bundled model used when -m is not given.
std::string default_model_path();

}  // namespace strata::cli
