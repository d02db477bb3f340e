// strata command-line entry: dispatches to the sub-commands in cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"strata: run LLMs larger than the memory of the device that computes them"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "strata 0.1.0");
  std::vector<strata::cli::Command> commands = strata::cli::all_commands();
  for (auto& c : commands) c.setup(app);
  // llama.cpp spells it -ngl; CLI11 takes only one-letter short options.
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& a : args) {
    if (a == "-ngl") a = "--ngl";
    if (a == "-np") a = "--np";
  }
  std::reverse(args.begin(), args.end());  // CLI11 consumes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, as every other error: "strata: error: <what>".
    std::fprintf(stderr, "strata: error: %s (see strata --help)\n", e.what());
    return 2;
  }
  for (auto& c : commands) {
    if (c.sub && c.sub->parsed()) return c.run();
  }
  return 2;
}
