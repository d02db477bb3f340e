#include "backend/copy_engine.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace strata {

bool CopyEvent::query() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

Status CopyEvent::synchronize() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  return status_;
}

void CopyEvent::complete(Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    STRATA_CHECK(!done_, "copy event completed twice");
    status_ = std::move(status);
    done_ = true;
  }
  cv_.notify_all();
}

CopyEngine::CopyEngine(const CopyEngineOptions& opts) : opts_(opts), thread_([this] { run(); }) {}

CopyEngine::~CopyEngine() { shutdown(); }

void CopyEngine::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<DeviceEvent> CopyEngine::enqueue(void* dst, const void* src, uint64_t nbytes) {
  auto event = std::make_shared<CopyEvent>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    STRATA_CHECK(!stopping_, "copy queued on a copy engine that is shutting down");
    if (nbytes == 0 && queue_.empty() && !busy_) {
      // Nothing earlier is pending, so FIFO order is already satisfied.
      event->complete(Status::ok());
      return event;
    }
    queue_.push_back(Job{dst, src, nbytes, event});
  }
  cv_.notify_one();
  return event;
}

uint64_t CopyEngine::bytes_copied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_copied_;
}

double CopyEngine::busy_s() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::chrono::duration<double>(busy_time_).count();
}

std::chrono::steady_clock::time_point CopyEngine::deadline(
    std::chrono::steady_clock::time_point start, uint64_t nbytes) const {
  double wait_s = opts_.latency_us * 1e-6;
  if (opts_.bandwidth_gbps > 0)
    wait_s += static_cast<double>(nbytes) / (opts_.bandwidth_gbps * 1e9);
  if (!(wait_s > 0)) return start;  // unthrottled, or nonsense (negative, NaN) options
  wait_s = std::min(wait_s, 1e6);   // keeps the conversion below in range
  // Round up so the bound holds exactly: a copy never completes before nbytes / bandwidth.
  auto wait =
      std::chrono::ceil<std::chrono::steady_clock::duration>(std::chrono::duration<double>(wait_s));
  return start + wait;
}

void CopyEngine::run() {
  const bool throttled = opts_.bandwidth_gbps > 0 || opts_.latency_us > 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and drained
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();

    const auto start = std::chrono::steady_clock::now();
    if (job.nbytes > 0) {
      std::memcpy(job.dst, job.src, job.nbytes);
      if (throttled) {
        // Sleep out the rest of the simulated transfer; shutdown() cuts it short.
        lock.lock();
        cv_.wait_until(lock, deadline(start, job.nbytes), [this] { return stopping_; });
        lock.unlock();
      }
    }
    const auto end = std::chrono::steady_clock::now();

    lock.lock();
    bytes_copied_ += job.nbytes;
    busy_time_ += end - start;
    busy_ = false;
    // Complete under mu_ so no later zero-byte copy can be completed early by enqueue()
    // between this copy's accounting and its completion.
    job.event->complete(Status::ok());
  }
}

}  // namespace strata
