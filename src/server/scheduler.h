#pragma once
// Serves generation requests on a fixed set of sessions with continuous
// batching: one thread steps every active session together (Model::step), so
// each forward pass, and each streamed layer, serves all of them; a request
// waits in a FIFO queue until a session is free, and takes the free session
// whose cache shares the longest prefix with its prompt.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "strata/engine.h"

namespace strata {

// One request's output channel. The scheduler thread produces; one consumer
// thread reads with next(). Thread-safe.
class Job {
 public:
  explicit Job(GenerateOptions gen) : gen_(std::move(gen)) {}
  // Waits for more text; false once the generation has ended and all text was
  // read.
  bool next(std::string* text);
  enum class Wait { kText, kDone, kTimeout };
  // next() that gives up after `timeout_s` (a server checks its client is still
  // there).
  Wait next_for(std::string* text, double timeout_s);
  // Stops the generation at the next step (a client that went away).
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  // After next() returned false: how it ended.
  Status status() const;
  GenerateStats stats() const;
  double queue_s() const;  // time waiting for a session

 private:
  friend class Scheduler;
  bool push(std::string_view text);  // false when cancelled
  void finish(Status s, const GenerateStats& stats);

  GenerateOptions gen_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  bool done_ = false;
  Status status_ = Status::ok();
  GenerateStats stats_;
  double submit_s_ = 0, start_s_ = 0;
};

// Totals since start, for /metrics.
struct SchedulerMetrics {
  uint64_t requests = 0, requests_failed = 0, requests_cancelled = 0;
  uint64_t prompt_tokens = 0, cached_prompt_tokens = 0, generated_tokens = 0;
  uint64_t forward_passes = 0;
  double busy_s = 0;           // wall time of forward passes
  double decode_busy_s = 0;    // ... of passes with no prompt tokens
  uint64_t decode_tokens = 0;  // tokens fed in those passes
  uint64_t bytes_streamed = 0;
  double transfer_s = 0, stall_s = 0;
  int active = 0, queued = 0;  // now
};

// Owns n_slots sessions and the thread that steps them. The Model must allow
// n_slots sessions (ModelOptions::n_seq). submit() is thread-safe.
class Scheduler {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Scheduler>> create(std::shared_ptr<Model> model,
                                                                 int n_slots);
  ~Scheduler();  // cancels what runs, fails what waits, joins the thread

  // Queues a request (gen.prompt_tokens filled, or gen.prompt). The job's text
  // streams as it is generated; it ends with the session's finish reason in
  // stats().finish.
  std::shared_ptr<Job> submit(GenerateOptions gen);
  SchedulerMetrics metrics() const;
  Model& model() const { return *model_; }

 private:
  Scheduler() = default;
  void run();
  void start_waiting_jobs();  // under mu_

  std::shared_ptr<Model> model_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<std::shared_ptr<Job>> running_;  // [slot], null when free
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stop_ = false;
  SchedulerMetrics m_;
  std::thread thread_;
};

}  // namespace strata
