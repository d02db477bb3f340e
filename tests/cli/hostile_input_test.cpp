// Inputs a hostile-input probe found that hung, aborted or did something silently wrong: each
// is fed here and must give one clear "strata: error:" line and a non-zero exit (or, where
// the input is fine, do the right thing). Every command runs under `timeout` so a hang fails
// the test instead of stalling the suite.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "cli/cli_util.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using Output = test::CliOutput;
using test::expect_clean_error;

const std::string kData = STRATA_DATA;
const std::string kTestData = STRATA_TEST_DATA;
const std::string kGguf = kData + "/models/stories260K.gguf";

// A hang is exit code 124 from timeout(1).
Output run(const std::string& args, const std::string& env = "") {
  return test::run_cli(args, env + " timeout 60");
}

class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir("hostile"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string fifo(const std::string& name) {
    const std::string p = dir_ + "/" + name;
    EXPECT_EQ(::mkfifo(p.c_str(), 0600), 0);
    return p;
  }
  std::string dir_;
};

TEST_F(HostileInput, FifosAreRefusedNotWaitedOn) {
  const std::string f = fifo("pipe");
  expect_clean_error(run("run -m " + f + " -n 1"), f + ": not a regular file (a FIFO)", "-m");
  expect_clean_error(run("run --tokenizer " + f + " -n 1 -q"), "not a regular file (a FIFO)",
                     "--tokenizer");
  expect_clean_error(run("run -f " + f + " -n 1"), f + ": not a regular file (a FIFO)", "-f");
  expect_clean_error(run("tokenize -m " + f + " hi"), "not a regular file (a FIFO)", "tokenize -m");
  expect_clean_error(run("inspect " + f), "not a regular file (a FIFO)", "inspect");
  // A Hugging Face directory whose shard is a FIFO.
  const std::string hf = dir_ + "/hf";
  Output made =
      test::run_cli("make-model --shape tiny --layers 1 --format safetensors --out " + hf);
  ASSERT_EQ(made.code, 0) << made.err;
  const std::string shard = hf + "/model-00001-of-00001.safetensors";
  ASSERT_TRUE(fs::remove(shard));
  ASSERT_EQ(::mkfifo(shard.c_str(), 0600), 0);
  expect_clean_error(run("run -m " + hf + " --tokenizer " + kGguf + " -n 1"),
                     "not a regular file (a FIFO)", "shard");
}

// A cache folder that cannot be written costs extra reads, not the run.
TEST_F(HostileInput, AnUnwritableCacheFallsBackToTheFile) {
  const std::string blocker = dir_ + "/not_a_dir";
  test::write_all(blocker, "x");
  const std::string args = "run -m " + kTestData + "/models/stories260K.bin --tokenizer " +
                           kTestData +
                           "/models/tok512.bin -p 'Once upon a time' -n 8 --temp 0 -ngl 2 "
                           "--offload-to disk";
  Output ok = run(args, "STRATA_CACHE_DIR=" + dir_ + "/cache");
  ASSERT_EQ(ok.code, 0) << ok.err;
  Output o = run(args, "STRATA_CACHE_DIR=" + blocker + "/cache");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, ok.out);
  EXPECT_NE(o.err.find("cannot write the layer pack"), std::string::npos) << o.err;
}

// A symlink loop where a llama2.c model's tokenizer would be: "not there", not an abort.
TEST_F(HostileInput, ASymlinkLoopBesideALlama2cModel) {
  fs::copy_file(kTestData + "/models/stories260K.bin", dir_ + "/stories260K.bin");
  fs::create_symlink("tok512.bin", dir_ + "/tok512.bin");        // points at itself
  fs::create_symlink("tokenizer.bin", dir_ + "/tokenizer.bin");  // so does this one
  expect_clean_error(run("run -m " + dir_ + "/stories260K.bin -n 1"),
                     "llama2.c checkpoints carry no vocabulary", "run");
  Output o = run("inspect " + dir_ + "/stories260K.bin");
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_NE(o.err.find("strata: error: " + dir_ + "/stories260K.bin: llama2.c checkpoints"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.out.find("unavailable"), std::string::npos) << "inspect still shows the model";
}

TEST_F(HostileInput, AbsurdThreadCounts) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  expect_clean_error(run("run -t 100000 -n 1"),
                     fmt::format("100000 threads is too many: at most {} (4 x the {} hardware "
                                 "threads)",
                                 4 * hw, hw),
                     "-t 100000");
  expect_clean_error(run("run -t -3 -n 1"), "-t must be >= 0", "-t -3");
}

// --dump-logits writes atomically into regular files; a device is refused and left alone, a
// symlink is written through.
TEST_F(HostileInput, DumpLogitsOnlyReplacesRegularFiles) {
  expect_clean_error(run("run -n 2 --temp 0 -q --dump-logits /dev/full"),
                     "/dev/full: exists and is not a regular file", "/dev/full");
  struct stat st {};
  ASSERT_EQ(::stat("/dev/full", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/full was replaced";
  const std::string target = dir_ + "/logits.f32", link = dir_ + "/link.f32";
  fs::create_symlink(target, link);
  Output o = run("run -p 'Once upon a time' -n 2 --temp 0 -q --dump-logits " + link);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_TRUE(fs::is_symlink(link));
  // BOS + 4 prompt tokens, then 1 new position: 6 rows of 512 floats.
  EXPECT_EQ(fs::file_size(target), 6u * 512 * 4);
}

TEST_F(HostileInput, SamplingAndCountOptionsAreChecked) {
  expect_clean_error(run("run -n -5"), "-n must be -1 (until end of generation) or a count >= 0",
                     "-n -5");
  expect_clean_error(run("run --temp nan"), "--temp must be a finite number >= 0, got nan",
                     "--temp nan");
  expect_clean_error(run("run --temp -1"), "--temp must be a finite number >= 0, got -1",
                     "--temp -1");
  expect_clean_error(run("run --top-p 2"), "--top-p must be in [0, 1], got 2", "--top-p 2");
  expect_clean_error(run("run --min-p -0.5"), "--min-p must be in [0, 1]", "--min-p");
  expect_clean_error(run("run --top-k -1"), "--top-k must be >= 0", "--top-k");
  expect_clean_error(run("run --repeat-penalty 0"), "--repeat-penalty must be a finite number > 0",
                     "--repeat-penalty");
  expect_clean_error(run("run -b 0"), "-b must be >= 1", "-b 0");
  // What CLI11 itself rejects is one line too, not its multi-line usage text.
  expect_clean_error(run("run -n abc"), "abc", "-n abc");
  expect_clean_error(run("run --no-such-option"), "--no-such-option", "unknown option");
  Output ok = run("run -n -1 -c 40 --temp 0 -q -p 'Once upon a time'");
  EXPECT_EQ(ok.code, 0) << "-n -1 means until end of generation or a full context: " << ok.err;
}

// A prompt the engine refuses is not echoed to stdout first.
TEST_F(HostileInput, ATooLongPromptIsNotEchoed) {
  std::string prompt;
  for (int i = 0; i < 2000; ++i) prompt += "Once upon a time ";
  test::write_all(dir_ + "/prompt.txt", prompt);
  Output o = run("run -q -c 64 -f " + dir_ + "/prompt.txt");
  expect_clean_error(o, "does not fit the context of 64", "long prompt");
  EXPECT_EQ(o.out, "");
}

TEST_F(HostileInput, EmptyPathsAreErrorsNotTheDefault) {
  expect_clean_error(run("tokenize -m '' hello"), "an empty path", "tokenize -m ''");
  expect_clean_error(run("run -m '' -n 1"), "an empty path", "run -m ''");
  expect_clean_error(run("run --tokenizer '' -n 1"), "an empty path", "--tokenizer ''");
}

}  // namespace
}  // namespace strata

namespace strata::test {
namespace {
// A RAM budget with default options: strata shrinks what it may (resident layers, prefetch,
// context, batch) and names the budget that would fit when nothing does; that budget then
// works and holds.
TEST(RamBudget, DefaultOptionsFitOrNameTheBudgetThatWould) {
  const std::string dir = make_temp_dir("ram-budget");
  CliOutput o = run_cli("make-model --shape tiny-256 --layers 8 --dtype f16 -o " + dir + "/m.gguf");
  ASSERT_EQ(o.code, 0) << o.err;
  o = run_cli("run -m " + dir + "/m.gguf -p 'Once upon a time' -n 4 --ram-budget 1M");
  expect_clean_error(o, "is too small", "a 1 MiB budget");
  const std::string key = "use --ram-budget ";
  const size_t at = o.err.find(key);
  ASSERT_NE(at, std::string::npos) << o.err;
  const double need_mib = std::stod(o.err.substr(at + key.size()));
  EXPECT_NE(o.err.find(" MiB or more", at), std::string::npos) << o.err;
  // The named budget plus a little for this process's own variation.
  const double budget_mib = need_mib + 1.0;
  o = run_cli("run -m " + dir + "/m.gguf -p 'Once upon a time' -n 4 --ram-budget " +
              std::to_string(static_cast<int>(budget_mib * 1024)) + "K");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.err.find("--prefetch auto chose 0"), std::string::npos) << o.err;
  const size_t rss = o.err.find("peak RSS ");
  ASSERT_NE(rss, std::string::npos) << o.err;
  const double rss_mib = std::stod(o.err.substr(rss + 9));
  EXPECT_LT(rss_mib, budget_mib * 1.1) << o.err;
}
}  // namespace
}  // namespace strata::test
