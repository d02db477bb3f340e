#include <cstdio>

#include "core/data_dir.h"
#include "tools/commands.h"

namespace strata::cli {

std::vector<Command> all_commands() {
  return {run_command(),   inspect_command(),    tokenize_command(), convert_command(),
          bench_command(), make_model_command(), quantize_command(), template_command(),
          serve_command(), chat_command()};
}

int fail(const Status& s) {
  std::fprintf(stderr, "strata: error: %s\n", s.message().c_str());
  return 1;
}

Result<std::string> bundled_model_path() { return find_data_file(kBundledModel); }

CLI::Validator non_empty_path() {
  return CLI::Validator(
      [](const std::string& v) { return v.empty() ? std::string("an empty path") : std::string(); },
      "PATH");
}

}  // namespace strata::cli
