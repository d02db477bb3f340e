#include <cstdio>

#include "tools/commands.h"

namespace strata::cli {

std::vector<Command> all_commands() {
  return {run_command(), inspect_command(), tokenize_command(), convert_command(), bench_command(),
          make_model_command()};
}

int fail(const Status& s) {
  std::fprintf(stderr, "strata: error: %s\n", s.message().c_str());
  return 1;
}

std::string default_model_path() {
#ifdef STRATA_DEFAULT_MODEL
  return STRATA_DEFAULT_MODEL;
#else
  return "models/stories260K.gguf";
#endif
}

}  // namespace strata::cli
