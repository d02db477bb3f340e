// strata chat: an interactive conversation in the terminal with the model's
// chat template. Replies stream as they are generated; each turn prefills only
// its new tokens (the session keeps the conversation's KV cache). Ctrl-C stops
// the reply being generated, not the program; /reset starts over, /exit (or
// Ctrl-D) quits.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <iostream>

#include "core/log.h"
#include "model/model_source.h"
#include "server/model_template.h"
#include "store/streaming_store.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/options.h"

namespace strata::cli {

namespace {

std::atomic<bool> g_interrupted{false};  // set by SIGINT, read by the generation callback
void on_sigint(int) { g_interrupted = true; }

struct ChatArgs {
  EngineOptions engine;
  GenerateOptions gen;
  PromptOptions prompt;
  PlacementText placement;
  std::string system;
  bool quiet = false;
};

// Reads one message; a line ending in '\' continues on the next. False at end
// of input. A Ctrl-C while reading discards what was typed.
bool read_message(bool tty, std::string* out) {
  out->clear();
  for (;;) {
    if (tty) {
      std::fputs(out->empty() ? "\n> " : ". ", stdout);
      std::fflush(stdout);
    }
    std::string line;
    errno = 0;
    if (!std::getline(std::cin, line)) {
      if (g_interrupted || errno == EINTR) {  // Ctrl-C at the prompt
        std::cin.clear();
        g_interrupted = false;
        out->clear();
        if (tty) std::fputs("\n(Ctrl-C: message discarded; /exit or Ctrl-D quits)", stdout);
        continue;
      }
      return !out->empty();
    }
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      *out += line + "\n";
      continue;
    }
    *out += line;
    return true;
  }
}

int chat_main(const ChatArgs& a_in) {
  ChatArgs a = a_in;
  if (a.quiet) set_log_level(LogLevel::kError);
  if (Status s = finish_generate_options(&a.gen, a.prompt); !s) return fail(s);
  if (Status s = parse_placement(a.placement, &a.engine.placement); !s) return fail(s);
  auto model = Model::open(a.engine);
  if (!model) return fail(model.status());
  Model& m = **model;
  STRATA_LOG_INFO("model {} ({} layers), ctx {}; {}", m.source().name, m.source().config.n_layer,
                  m.n_ctx(), m.store().plan().describe());
  auto tmpl = model_chat_template(m.source(), m.tokenizer());
  if (!tmpl) return fail(tmpl.status());
  STRATA_LOG_INFO("chat template: {}", tmpl->name);
  const ChatRenderer render = make_chat_renderer(std::move(*tmpl));
  auto session = m.new_session();
  if (!session) return fail(session.status());
  Session& s = **session;

  struct sigaction sa = {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a Ctrl-C interrupts the read at the prompt
  sigaction(SIGINT, &sa, nullptr);

  const bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (tty) {
    std::fputs(
        "strata chat: /reset starts over, /exit quits; Ctrl-C stops a "
        "reply; end a line "
        "with \\ to continue it\n",
        stdout);
  }
  ApiJson history = ApiJson::array();
  auto reset = [&] {
    history = ApiJson::array();
    if (!a.system.empty()) history.push_back({{"role", "system"}, {"content", a.system}});
    s.reset();
  };
  reset();
  const Tokenizer& tok = m.tokenizer();
  std::string message;
  while (read_message(tty, &message)) {
    if (message == "/exit" || message == "/quit") break;
    if (message == "/reset") {
      reset();
      std::fputs(tty ? "(conversation reset)" : "(conversation reset)\n", stdout);
      continue;
    }
    if (message.empty()) continue;
    history.push_back({{"role", "user"}, {"content", message}});
    // The whole conversation, rendered; older turns go when it would not fit.
    std::vector<int32_t> tokens;
    for (;;) {
      Result<std::string> text = render(history, nullptr, true);
      if (!text) return fail(text.status());
      tokens = encode_chat_prompt(tok, *text);
      const size_t first = !a.system.empty() ? 1 : 0;
      if (static_cast<int64_t>(tokens.size()) + 16 < m.n_ctx() || history.size() <= first + 1)
        break;
      history.erase(history.begin() + static_cast<std::ptrdiff_t>(first));  // the oldest turn
      STRATA_LOG_WARN("context full: dropped the oldest message");
    }
    GenerateOptions g = a.gen;
    g.prompt_tokens = std::move(tokens);
    std::string reply;
    g_interrupted = false;
    GenerateStats st;
    Status status = s.generate(
        g,
        [&](std::string_view piece) {
          reply.append(piece);
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
          return !g_interrupted.load();
        },
        &st);
    std::fputc('\n', stdout);
    if (!status) {
      history.erase(history.end() - 1);
      std::fprintf(stderr, "strata: error: %s\n", status.message().c_str());
      continue;
    }
    if (st.finish == FinishReason::kCancelled) std::fputs("(stopped)\n", stdout);
    std::fflush(stdout);
    history.push_back({{"role", "assistant"}, {"content", reply}});
    const double tps = st.decode_s > 0 ? st.n_generated / st.decode_s : 0;
    STRATA_LOG_INFO("{} tok, {:.1f} tok/s, prompt {} tok ({} from the cache)", st.n_generated, tps,
                    st.n_prompt_tokens, st.n_cached_tokens);
  }
  if (tty) std::fputc('\n', stdout);
  return 0;
}

}  // namespace

Command chat_command() {
  auto args = std::make_shared<ChatArgs>();
  Command c;
  c.run = [args] { return chat_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "chat", "Interactive chat in the terminal with the model's chat template");
    add_engine_options(*sub, &args->engine);
    add_generate_options(*sub, &args->gen, &args->prompt);
    args->gen.n_predict = -1;  // a reply ends at the model's end of turn
    sub->add_option("--system", args->system, "System message that starts the conversation");
    sub->add_flag("-q,--quiet", args->quiet, "Only errors on stderr (no per-reply stats)");
    add_placement_options(*sub, &args->engine.placement, &args->placement);
    return sub;
  };
  return c;
}

}  // namespace strata::cli
