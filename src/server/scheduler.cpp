#include "server/scheduler.h"

#include <algorithm>

#include "core/timer.h"

namespace strata {

bool Job::next(std::string* text) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !text_.empty() || done_; });
  if (text_.empty()) return false;
  text->clear();
  text->swap(text_);
  return true;
}

Job::Wait Job::next_for(std::string* text, double timeout_s) {
  std::unique_lock lock(mu_);
  const bool ready = cv_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                                  [&] { return !text_.empty() || done_; });
  if (!ready) return Wait::kTimeout;
  if (text_.empty()) return Wait::kDone;
  text->clear();
  text->swap(text_);
  return Wait::kText;
}

Status Job::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

GenerateStats Job::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

double Job::queue_s() const {
  std::lock_guard lock(mu_);
  return start_s_ > 0 ? start_s_ - submit_s_ : 0;
}

bool Job::push(std::string_view text) {
  {
    std::lock_guard lock(mu_);
    text_.append(text);
  }
  cv_.notify_all();
  return !cancelled_;
}

void Job::finish(Status s, const GenerateStats& stats) {
  {
    std::lock_guard lock(mu_);
    status_ = std::move(s);
    stats_ = stats;
    stats_.traces.clear();  // the scheduler keeps the totals; a job's reader needs none
    done_ = true;
  }
  cv_.notify_all();
}

Result<std::unique_ptr<Scheduler>> Scheduler::create(std::shared_ptr<Model> model, int n_slots) {
  if (n_slots < 1) return Status::errorf("--parallel must be >= 1, got {}", n_slots);
  std::unique_ptr<Scheduler> s(new Scheduler());
  s->model_ = std::move(model);
  for (int i = 0; i < n_slots; ++i) {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, s->model_->new_session());
    s->sessions_.push_back(std::move(session));
  }
  s->running_.resize(n_slots);
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& job : queue_) job->finish(Status::error("the server is shutting down"), {});
  for (size_t i = 0; i < running_.size(); ++i) {
    if (running_[i])
      running_[i]->finish(Status::error("the server is shutting down"), sessions_[i]->stats());
  }
}

std::shared_ptr<Job> Scheduler::submit(GenerateOptions gen) {
  gen.max_traces = 0;  // the scheduler aggregates passes itself
  auto job = std::make_shared<Job>(std::move(gen));
  job->submit_s_ = now_seconds();
  {
    std::lock_guard lock(mu_);
    queue_.push_back(job);
    ++m_.requests;
  }
  cv_.notify_all();
  return job;
}

SchedulerMetrics Scheduler::metrics() const {
  std::lock_guard lock(mu_);
  SchedulerMetrics m = m_;
  m.queued = static_cast<int>(queue_.size());
  m.active = 0;
  for (const auto& j : running_) m.active += j != nullptr;
  return m;
}

void Scheduler::start_waiting_jobs() {
  while (!queue_.empty()) {
    if (queue_.front()->cancelled()) {  // its client left while it waited
      GenerateStats st;
      st.finish = FinishReason::kCancelled;
      queue_.front()->finish(Status::ok(), st);
      queue_.pop_front();
      ++m_.requests_cancelled;
      continue;
    }
    // The free session whose cache shares the longest prefix with the prompt.
    const std::vector<int32_t>& prompt = queue_.front()->gen_.prompt_tokens;
    int best = -1;
    size_t best_common = 0;
    for (size_t i = 0; i < sessions_.size(); ++i) {
      if (running_[i]) continue;
      const std::vector<int32_t>& cached = sessions_[i]->cached_tokens();
      size_t common = 0;
      while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common]) {
        ++common;
      }
      if (best < 0 || common > best_common) {
        best = static_cast<int>(i);
        best_common = common;
      }
    }
    if (best < 0) return;
    std::shared_ptr<Job> job = queue_.front();
    queue_.pop_front();
    {
      std::lock_guard jl(job->mu_);
      job->start_s_ = now_seconds();
    }
    Session& s = *sessions_[best];
    Status st =
        s.begin(job->gen_, [j = job.get()](std::string_view text) { return j->push(text); });
    if (!st) {
      ++m_.requests_failed;
      job->finish(std::move(st), s.stats());
      continue;
    }
    m_.prompt_tokens += s.stats().n_prompt_tokens;
    m_.cached_prompt_tokens += s.stats().n_cached_tokens;
    running_[best] = std::move(job);
  }
}

void Scheduler::run() {
  std::vector<Session*> active;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        if (stop_ || !queue_.empty()) return true;
        return std::any_of(running_.begin(), running_.end(),
                           [](const auto& j) { return j != nullptr; });
      });
      if (stop_) return;
      start_waiting_jobs();
      active.clear();
      for (size_t i = 0; i < sessions_.size(); ++i) {
        if (!running_[i]) continue;
        if (running_[i]->cancelled()) sessions_[i]->cancel();
        active.push_back(sessions_[i].get());
      }
    }
    TokenTrace trace;
    Status st = model_->step(active, &trace);
    std::lock_guard lock(mu_);
    if (trace.n_tokens > 0) {
      ++m_.forward_passes;
      m_.busy_s += trace.wall_s;
      if (!trace.prefill) {
        m_.decode_busy_s += trace.wall_s;
        m_.decode_tokens += trace.n_tokens;
      }
      m_.bytes_streamed += trace.bytes_streamed;
      m_.transfer_s += trace.transfer_s;
      m_.stall_s += trace.stall_s;
    }
    for (size_t i = 0; i < sessions_.size(); ++i) {
      if (!running_[i] || sessions_[i]->active()) continue;
      const GenerateStats& gs = sessions_[i]->stats();
      m_.generated_tokens += gs.n_generated;
      if (!st) {
        ++m_.requests_failed;
      } else if (gs.finish == FinishReason::kCancelled) {
        ++m_.requests_cancelled;
      }
      running_[i]->finish(st.is_ok() ? Status::ok() : st, gs);
      running_[i].reset();
    }
  }
}

}  // namespace strata
