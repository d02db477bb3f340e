#include "cli/cli_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace strata::test {

const std::string& scratch_dir() {
  static const std::string d = make_temp_dir("cli");
  return d;
}

CliOutput run_cli(const std::string& args, const std::string& env) {
  const std::string err_path = scratch_dir() + "/stderr.txt";
  CliOutput o;
  const std::string cmd =
      (env.empty() ? "" : env + " ") + STRATA_BINARY + " " + args + " 2>" + err_path;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) o.out.append(buf, n);
  int st = pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  o.err = read_all(err_path);
  return o;
}

void expect_clean_error(const CliOutput& o, const std::string& must_contain,
                        const std::string& what) {
  EXPECT_NE(o.code, 0) << what;
  EXPECT_LT(o.code, 124) << what << ": killed by a signal or timed out";
  EXPECT_EQ(o.err.rfind("strata: error: ", 0), 0u) << what << ": " << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << what << ": " << o.err;
  EXPECT_NE(o.err.find(must_contain), std::string::npos) << what << ": " << o.err;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

}  // namespace strata::test
