// The `strata tokenize` command, run as a separate process.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>

#include "tokenizer/fixtures_util.h"

namespace strata::testing {
namespace {

struct CliResult {
  int exit_code = -1;
  std::string out;
};

CliResult run_tokenize(const std::string& args) {
  CliResult r;
  const std::string cmd = std::string(STRATA_BINARY) + " tokenize " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(CliTokenize, DefaultModelIds) {
  const CliResult r = run_tokenize("--ids 'Once upon a time'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "[1, 403, 407, 261, 378]\n");
}

TEST(CliTokenize, PiecesPerLine) {
  const CliResult r =
      run_tokenize("-m " + kData + "/models/stories260K.gguf 'Once upon'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "1\t'<s>'\n403\t'Once'\n407\t' upon'\n");
}

TEST(CliTokenize, OtherTokenizerFiles) {
  CliResult r = run_tokenize("--ids --tokenizer " + kTestData +
                             "/models/tok512.bin 'Once upon a time'");
  EXPECT_EQ(r.out, "[1, 403, 407, 261, 378]\n");
  r = run_tokenize("--ids --special -m " + kData + "/tokenizers/llama3 '<|begin_of_text|>Hello'");
  EXPECT_EQ(r.out, "[128000, 128000, 9906]\n");
  r = run_tokenize("--ids --no-bos -m " + kData + "/tokenizers/llama3/tokenizer.json.zst 'Hello'");
  EXPECT_EQ(r.out, "[9906]\n");
}

TEST(CliTokenize, Errors) {
  CliResult r = run_tokenize("--ids -m /nonexistent/model.gguf hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("strata: error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/model.gguf"), std::string::npos) << r.out;
  r = run_tokenize("-m a --tokenizer b hi");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace strata::testing
