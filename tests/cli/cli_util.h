#pragma once
// Shared plumbing for the CLI tests: run the strata binary, capture stdout, stderr and the
// exit code; a scratch directory per test program, removed when the program ends.
#include <string>

#include "common/temp_dir.h"  // make_temp_dir

namespace strata::test {

struct CliOutput {
  std::string out, err;
  int code = -1;  // exit status, or 128 + signal
};

// This test program's scratch directory (created on first use, removed at exit).
const std::string& scratch_dir();

// Runs `STRATA_BINARY args` with `env` ("NAME=value ...", may be empty) before it.
CliOutput run_cli(const std::string& args, const std::string& env = "");

// Bad input's contract: one line "strata: error: ..." on stderr holding `must_contain`, a
// non-zero exit below 128 (no signal, no abort). `what` names the case in failures.
void expect_clean_error(const CliOutput& o, const std::string& must_contain,
                        const std::string& what);

std::string read_all(const std::string& path);
void write_all(const std::string& path, const std::string& bytes);

}  // namespace strata::test
