// strata chat in a real terminal (tmux): streamed replies, a second turn served
// from the session's cache, Ctrl-C stops the reply and not the program, /reset
// and /exit. And with piped input, as a script would drive it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/cli_util.h"

namespace strata::test {
namespace {

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class Tmux {
 public:
  explicit Tmux(const std::string& command) {
    sh("tmux -L " + sock_ + " kill-server 2>/dev/null");
    sh("tmux -L " + sock_ + " new-session -d -s t -x 150 -y 50 '" + command +
       "; echo EXITED:$?; sleep 60'");
  }
  ~Tmux() { sh("tmux -L " + sock_ + " kill-server 2>/dev/null"); }
  void keys(const std::string& k) { sh("tmux -L " + sock_ + " send-keys -t t " + k); }
  std::string screen() { return sh("tmux -L " + sock_ + " capture-pane -p -J -S -200 -t t"); }
  // Waits until the screen holds `text` `count` times (up to 20 s).
  bool wait_for(const std::string& text, int count = 1) {
    for (int i = 0; i < 400; ++i) {
      const std::string s = screen();
      int n = 0;
      for (size_t at = s.find(text); at != std::string::npos; at = s.find(text, at + 1)) ++n;
      if (n >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  std::string sock_ = "strata-chat-test-" + std::to_string(::getpid());
};

TEST(Chat, InATerminal) {
  // Layers streamed through a simulated device with 20 ms per copy: a reply
  // takes long enough (0.1 s per token) for a Ctrl-C to land in it.
  Tmux t(std::string(STRATA_BINARY) +
         " chat -c 1024 --temp 0 --ignore-eos --device sim --gpu-layers 0 "
         "--sim-latency-us 20000");
  ASSERT_TRUE(t.wait_for("/exit quits")) << t.screen();
  t.keys("'Hello there' Enter");
  ASSERT_TRUE(t.wait_for("Annab")) << t.screen();  // the reply streams
  t.keys("C-c");
  ASSERT_TRUE(t.wait_for("(stopped)")) << t.screen();
  ASSERT_TRUE(t.wait_for("\n> ", 2)) << t.screen();  // a new prompt: the program lives on
  // The second turn: the first turn's tokens come from the session's cache.
  t.keys("'Tell me more' Enter");
  ASSERT_TRUE(t.wait_for("Tell me more\n\"")) << t.screen();  // the reply began
  t.keys("C-c");
  ASSERT_TRUE(t.wait_for("(stopped)", 2)) << t.screen();
  ASSERT_TRUE(t.wait_for("tok/s, prompt", 2)) << t.screen();
  const std::string s = t.screen();
  const size_t second = s.rfind("tok/s, prompt");
  ASSERT_NE(second, std::string::npos);
  const std::string line = s.substr(second, s.find('\n', second) - second);
  EXPECT_EQ(line.find("(0 from the cache)"), std::string::npos) << line;
  t.keys("/reset Enter");
  ASSERT_TRUE(t.wait_for("(conversation reset)")) << t.screen();
  t.keys("C-c");  // at the prompt: discards the line, does not quit
  ASSERT_TRUE(t.wait_for("message discarded")) << t.screen();
  t.keys("/exit Enter");
  ASSERT_TRUE(t.wait_for("EXITED:0")) << t.screen();
}

TEST(Chat, PipedInput) {
  const std::string dir = make_temp_dir("chat-piped");
  write_all(dir + "/in.txt", "Hello\n/reset\nOnce more\n");
  CliOutput o = run_cli("chat -n 8 --temp 0 --ignore-eos -q < " + dir + "/in.txt");
  EXPECT_EQ(o.code, 0) << o.err;
  // Two replies of 8 tokens (greedy, so the same text twice after the reset)
  // and the notice.
  EXPECT_NE(o.out.find("(conversation reset)"), std::string::npos) << o.out;
  const size_t reset = o.out.find("(conversation reset)");
  EXPECT_GT(reset, 4u);
  EXPECT_GT(o.out.size(), reset + 25) << o.out;
}

}  // namespace
}  // namespace strata::test
