// strata serve: the OpenAI-compatible HTTP server (src/server/).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "backend/cpu/cpu_features.h"
#include "core/log.h"
#include "model/model_source.h"
#include "server/model_template.h"
#include "server/server.h"
#include "store/streaming_store.h"
#include "tools/commands.h"
#include "tools/options.h"

namespace strata::cli {

namespace {
struct ServeArgs {
  EngineOptions engine;
  PlacementText placement;
  ServerOptions server;
  std::string max_body = "8M";
  bool quiet = false;
};

int serve_main(const ServeArgs& a_in) {
  ServeArgs a = a_in;
  if (Status s = parse_placement(a.placement, &a.engine.placement); !s) return fail(s);
  auto max_body = parse_bytes(a.max_body);
  if (!max_body) return fail(max_body.status().with_context("--max-body"));
  a.server.max_body_bytes = *max_body;
  a.engine.n_seq = a.server.n_parallel;
  if (a.server.n_parallel < 1 || a.server.n_parallel > 256) {
    return fail(Status::errorf("--parallel must be in [1, 256], got {}", a.server.n_parallel));
  }
  if (a.server.port < 0 || a.server.port > 65535) {  // before the model loads
    return fail(Status::errorf("--port must be in [0, 65535], got {}", a.server.port));
  }
  if (a.quiet) set_log_level(LogLevel::kError);
  // Ctrl-C and SIGTERM are taken by one thread that stops the server: blocked
  // here, before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE,
         SIG_IGN);  // a client that goes away is a failed write, not a signal

  auto model = Model::open(a.engine);
  if (!model) return fail(model.status());
  Model& m = **model;
  const ModelConfig& c = m.source().config;
  STRATA_LOG_INFO("model {} ({}, {} layers, vocab {}), ctx {}, KV {}, {} session(s)",
                  m.source().name, c.arch_name, c.n_layer, c.n_vocab, m.n_ctx(),
                  kv_type_name(m.kv_type()), m.n_seq());
  STRATA_LOG_INFO("cpu kernels: {}, {} threads", cpu_description(), m.n_threads());
  STRATA_LOG_INFO("{}", m.store().plan().describe());
  auto tmpl = model_chat_template(m.source(), m.tokenizer());
  if (!tmpl) return fail(tmpl.status());
  STRATA_LOG_INFO("chat template: {}", tmpl->name);
  a.server.render = make_chat_renderer(std::move(*tmpl));
  auto server = Server::create(*model, a.server);
  if (!server) return fail(server.status());
  if (Status s = (*server)->bind(); !s) return fail(s);
  std::thread watcher([srv = server->get(), stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    srv->stop();
  });
  std::fprintf(stderr, "strata serve: listening on http://%s:%d (model '%s')\n",
               a.server.host.c_str(), (*server)->port(), (*server)->model_id().c_str());
  std::fflush(stderr);
  Status s = (*server)->listen();
  // listen() returns after stop(); wake the watcher if it is still waiting.
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  if (!s) return fail(s);
  std::fprintf(stderr, "strata serve: stopped\n");
  return 0;
}
}  // namespace

Command serve_command() {
  auto args = std::make_shared<ServeArgs>();
  Command c;
  c.run = [args] { return serve_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub =
        app.add_subcommand("serve",
                           "OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, "
                           "/v1/models, /health, /metrics, and a chat page at /");
    add_engine_options(*sub, &args->engine);
    sub->add_option("--host", args->server.host, "Address to listen on")->capture_default_str();
    sub->add_option("--port", args->server.port, "Port (0 = any free port, printed)")
        ->capture_default_str();
    sub->add_option("--parallel,--np", args->server.n_parallel,
                    "Requests generated at once, batched into one forward pass per step "
                    "(each has its own KV cache)")
        ->capture_default_str();
    sub->add_option("--alias", args->server.model_id,
                    "Model name clients use (default: the model's file name)");
    sub->add_option("--max-body", args->max_body, "Largest request body (e.g. 8M)")
        ->capture_default_str();
    sub->add_flag("-q,--quiet", args->quiet, "Only errors (and the listening line) on stderr");
    add_placement_options(*sub, &args->engine.placement, &args->placement);
    return sub;
  };
  return c;
}

}  // namespace strata::cli
