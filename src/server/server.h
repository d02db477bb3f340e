#pragma once
// strata serve: an OpenAI-compatible HTTP server (cpp-httplib) over a
// Scheduler.
//   POST /v1/chat/completions, /v1/completions   (SSE when "stream": true)
//   GET  /v1/models, /health, /metrics (Prometheus text), /  (a chat page)
// Bad requests get OpenAI's error object: 400 malformed, 404 unknown route or
// model, 413 a body over the limit. A client that goes away cancels its
// generation.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/openai.h"
#include "server/scheduler.h"

namespace httplib {
class Server;
}

namespace strata {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0 = any free port (see Server::port())
  int n_parallel = 1;                // sessions served at once (continuous batching)
  size_t max_body_bytes = 8u << 20;  // larger request bodies get a 413
  int n_http_threads = 64;           // connections handled at once
  std::string model_id;              // the name clients use; "" = the model's file name
  ChatRenderer render;               // the model's chat template
};

// Owns the HTTP server and the scheduler. listen() blocks until stop(), which
// any thread (or a signal watcher) may call.
class Server {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Server>> create(std::shared_ptr<Model> model,
                                                              ServerOptions opts);
  ~Server();
  // Binds host:port; an error naming them when that fails.
  [[nodiscard]] Status bind();
  // Serves until stop(). bind() first.
  Status listen();
  void stop();
  int port() const { return port_; }
  const std::string& model_id() const { return opts_.model_id; }

 private:
  Server() = default;
  void routes();
  std::string metrics_text() const;
  void count_status(int status);

  std::shared_ptr<Model> model_;
  ServerOptions opts_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  int64_t started_ = 0;
  mutable std::mutex status_mu_;
  std::map<int, uint64_t> responses_by_status_;
};

// The chat page served at "/": one HTML document, no external assets.
extern const char* const kChatPageHtml;

}  // namespace strata
