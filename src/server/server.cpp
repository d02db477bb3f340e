#include "server/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>

#include "model/model_source.h"
#include "tokenizer/tokenizer.h"

namespace strata {

using json = ApiJson;

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(api_dump(e.to_json()), "application/json");
}

// cpp-httplib 0.11 (Debian 12's) listens with a backlog of 5: sixteen clients
// connecting at once overflow it and the dropped SYNs come back a second later
// (measured: p99 latency 1.02 s with 16 clients, 0.19 s after this). Linux lets
// listen() be called again on a listening socket to change its backlog; the
// library does not expose its socket, so find it: the listening TCP socket of
// this process bound to `port`.
void widen_listen_backlog(int port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port) ::listen(fd, 1024);
  }
}

// How often a waiting handler writes to its client to learn whether it is still
// there.
constexpr double kLivenessCheckS = 0.25;

}  // namespace

Result<std::unique_ptr<Server>> Server::create(std::shared_ptr<Model> model, ServerOptions opts) {
  if (opts.port < 0 || opts.port > 65535) {
    return Status::errorf("--port must be in [0, 65535], got {}", opts.port);
  }
  if (opts.n_parallel < 1 || opts.n_parallel > model->n_seq()) {
    return Status::errorf("--parallel {} needs a model opened for that many sessions (n_seq {})",
                          opts.n_parallel, model->n_seq());
  }
  if (!opts.render) return Status::error("no chat template renderer");
  std::unique_ptr<Server> s(new Server());
  if (opts.model_id.empty()) {
    opts.model_id = std::filesystem::path(model->source().path).filename().string();
  }
  s->model_ = std::move(model);
  s->opts_ = std::move(opts);
  STRATA_ASSIGN_OR_RETURN(s->scheduler_, Scheduler::create(s->model_, s->opts_.n_parallel));
  s->http_ = std::make_unique<httplib::Server>();
  s->started_ = unix_now();
  s->routes();
  return s;
}

Server::~Server() {
  stop();
  http_.reset();
  scheduler_.reset();
}

Status Server::bind() {
  if (opts_.port == 0) {
    port_ = http_->bind_to_any_port(opts_.host);
    if (port_ <= 0) return Status::errorf("cannot listen on {} (any port)", opts_.host);
  } else {
    if (!http_->bind_to_port(opts_.host, opts_.port)) {
      return Status::errorf("cannot listen on {}:{} (in use, or not an address of this machine)",
                            opts_.host, opts_.port);
    }
    port_ = opts_.port;
  }
  widen_listen_backlog(port_);
  return Status::ok();
}

Status Server::listen() {
  if (!http_->listen_after_bind()) return Status::errorf("the server on port {} failed", port_);
  return Status::ok();
}

void Server::stop() {
  if (http_) http_->stop();
}

void Server::count_status(int status) {
  std::lock_guard lock(status_mu_);
  ++responses_by_status_[status];
}

std::string Server::metrics_text() const {
  const SchedulerMetrics m = scheduler_->metrics();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  metric("strata_requests_total", "counter", "Completion requests accepted.", m.requests);
  metric("strata_requests_failed_total", "counter", "Accepted requests that ended in an error.",
         m.requests_failed);
  metric("strata_requests_cancelled_total", "counter", "Requests whose client went away.",
         m.requests_cancelled);
  metric("strata_requests_active", "gauge", "Requests being generated now.", m.active);
  metric("strata_queue_depth", "gauge", "Requests waiting for a session.", m.queued);
  metric("strata_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.",
         m.prompt_tokens);
  metric("strata_prompt_tokens_cached_total", "counter",
         "Prompt tokens whose KV came from a session's cache.", m.cached_prompt_tokens);
  metric("strata_generated_tokens_total", "counter", "Tokens generated.", m.generated_tokens);
  metric("strata_forward_passes_total", "counter", "Forward passes (all sessions together).",
         m.forward_passes);
  metric("strata_decode_tokens_per_second", "gauge",
         "Tokens decoded per second of decode passes, all sessions together.",
         m.decode_busy_s > 0 ? m.decode_tokens / m.decode_busy_s : 0);
  metric("strata_stream_bytes_total", "counter", "Weight bytes streamed from RAM or disk.",
         m.bytes_streamed);
  metric("strata_stream_gbps", "gauge", "Streamed bytes per second of transfer (1e9 B/s).",
         m.transfer_s > 0 ? m.bytes_streamed / m.transfer_s / 1e9 : 0);
  metric("strata_stall_fraction", "gauge", "Share of forward-pass time spent waiting for weights.",
         m.busy_s > 0 ? m.stall_s / m.busy_s : 0);
  out +=
      "# HELP strata_http_responses_total HTTP responses by status.\n"
      "# TYPE strata_http_responses_total counter\n";
  std::lock_guard lock(status_mu_);
  for (const auto& [status, n] : responses_by_status_) {
    out += fmt::format("strata_http_responses_total{{status=\"{}\"}} {}\n", status, n);
  }
  return out;
}

void Server::routes() {
  httplib::Server& h = *http_;
  const int n_threads = opts_.n_http_threads;
  h.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
  h.set_payload_max_length(opts_.max_body_bytes);
  h.set_logger(
      [this](const httplib::Request&, const httplib::Response& res) { count_status(res.status); });
  h.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ApiError e;
        e.http_status = res.status;
        if (res.status == 404) {
          e.message = fmt::format("unknown route {} {}", req.method, req.path);
          e.code = "not_found";
        } else if (res.status == 413) {
          e.message = fmt::format("the request body is larger than the limit of {} bytes",
                                  opts_.max_body_bytes);
          e.code = "request_too_large";
        } else {
          e.message = fmt::format("HTTP {}", res.status);
        }
        res.set_content(api_dump(e.to_json()), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  h.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        ApiError e;
        e.http_status = 500;
        e.type = "server_error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& ex) {
          e.message = ex.what();
        } catch (...) {
          e.message = "internal error";
        }
        send_error(res, e);
      });

  h.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  h.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kChatPageHtml, "text/html; charset=utf-8");
  });
  auto model_json = [this] {
    return json{
        {"id", opts_.model_id}, {"object", "model"}, {"created", started_}, {"owned_by", "strata"}};
  };
  h.Get("/v1/models", [model_json](const httplib::Request&, httplib::Response& res) {
    res.set_content(api_dump(json{{"object", "list"}, {"data", json::array({model_json()})}}),
                    "application/json");
  });
  h.Get(R"(/v1/models/(.+))",
        [this, model_json](const httplib::Request& req, httplib::Response& res) {
          if (req.matches[1] != opts_.model_id) {
            ApiError e;
            e.http_status = 404;
            e.message = fmt::format("The model '{}' does not exist", std::string(req.matches[1]));
            e.code = "model_not_found";
            return send_error(res, e);
          }
          res.set_content(api_dump(model_json()), "application/json");
        });

  auto completion = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) {
      const ApiLimits limits{opts_.model_id, model_->n_ctx()};
      auto parsed = parse_api_request(req.body, chat, limits, model_->tokenizer(), opts_.render);
      if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
      auto r = std::make_shared<ApiRequest>(std::move(std::get<ApiRequest>(parsed)));
      std::shared_ptr<Job> job = scheduler_->submit(r->gen);
      const std::string id = make_response_id(chat);
      const int64_t created = unix_now();
      const std::string model_id = opts_.model_id;
      auto release = [job](bool success) {
        if (!success) job->cancel();
      };
      if (!r->stream) {
        // Chunked, so that while the job runs the handler can write whitespace
        // (valid before JSON) and learn from a failed write that the client is
        // gone.
        res.set_chunked_content_provider(
            "application/json",
            [job, r, id, created, model_id](size_t, httplib::DataSink& sink) {
              std::string text, piece;
              for (;;) {
                const Job::Wait w = job->next_for(&piece, kLivenessCheckS);
                if (w == Job::Wait::kDone) break;
                if (w == Job::Wait::kText) {
                  text += piece;
                } else if (!sink.write(" ", 1)) {
                  job->cancel();
                  return false;
                }
              }
              const Status st = job->status();
              json body;
              if (!st) {
                ApiError e;
                e.http_status = 500;
                e.type = "server_error";
                e.message = st.message();
                body = e.to_json();
              } else {
                body = api_response(*r, id, created, model_id, text, job->stats());
              }
              const std::string out = api_dump(body);
              if (!sink.write(out.data(), out.size())) return false;
              sink.done();
              return true;
            },
            release);
        return;
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [job, r, id, created, model_id](size_t, httplib::DataSink& sink) {
            auto event = [&](const json& j) {
              const std::string s = "data: " + api_dump(j) + "\n\n";
              return sink.write(s.data(), s.size());
            };
            bool first = true;
            if (r->chat) {  // the role first, as OpenAI streams it
              if (!event(api_chunk(*r, id, created, model_id, "", true, FinishReason::kNone))) {
                job->cancel();
                return false;
              }
              first = false;
            }
            std::string piece;
            for (;;) {
              const Job::Wait w = job->next_for(&piece, kLivenessCheckS);
              if (w == Job::Wait::kDone) break;
              const bool ok = w == Job::Wait::kText
                                  ? event(api_chunk(*r, id, created, model_id, piece, first,
                                                    FinishReason::kNone))
                                  : sink.write(": keep-alive\n\n", 14);
              if (!ok) {
                job->cancel();
                return false;
              }
            }
            const Status st = job->status();
            const GenerateStats stats = job->stats();
            bool ok = true;
            if (!st) {
              ApiError e;
              e.http_status = 500;
              e.type = "server_error";
              e.message = st.message();
              ok = event(e.to_json());
            } else {
              ok = event(api_chunk(*r, id, created, model_id, "", false, stats.finish));
              if (ok && r->include_usage)
                ok = event(api_usage_chunk(*r, id, created, model_id, stats));
            }
            if (ok) ok = sink.write("data: [DONE]\n\n", 14);
            if (!ok) return false;
            sink.done();
            return true;
          },
          release);
    };
  };
  h.Post("/v1/chat/completions", completion(true));
  h.Post("/v1/completions", completion(false));
}

}  // namespace strata
