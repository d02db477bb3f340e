#pragma once
// The copy stream shared by the CPU and simulated devices: one thread running memcpy jobs
// in FIFO order, optionally throttled to a bandwidth and a fixed per-copy latency so the
// simulated device behaves like a PCIe link. A real GPU backend uses its copy stream instead.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "backend/device.h"

namespace strata {

// Completion of one queued copy. Completed once, by the copy thread (or at once for a copy
// with nothing before it and nothing to do). Self-contained: it holds no pointer back to the
// engine, so waiting on it after the engine is gone is safe. Thread-safe.
class CopyEvent final : public DeviceEvent {
 public:
  bool query() const override;
  Status synchronize() override;
  void complete(Status status);  // exactly once

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mu_
  Status status_;      // guarded by mu_; final once done_
};

struct CopyEngineOptions {
  double bandwidth_gbps = 0;  // 1e9 bytes/s; 0 = as fast as memcpy
  double latency_us = 0;      // added to every copy of one byte or more
};

// Owns the copy thread and its queue. enqueue() and the counters are thread-safe. The
// destructor (or shutdown()) drains the queue: every queued copy is still performed and its
// event completed, but without the throttle's sleeps, so tearing down a slow simulated link
// with gigabytes queued takes memcpy time, not simulated time. Not copyable.
class CopyEngine {
 public:
  explicit CopyEngine(const CopyEngineOptions& opts);
  ~CopyEngine();
  CopyEngine(const CopyEngine&) = delete;
  CopyEngine& operator=(const CopyEngine&) = delete;

  // Queues memcpy(dst, src, nbytes) behind every earlier copy. The returned event completes
  // when this copy and all earlier ones are done. nbytes == 0 is a no-op that still respects
  // FIFO order (null pointers are then fine); the caller validates pointers otherwise.
  // Enqueueing after shutdown() is a programming error.
  std::shared_ptr<DeviceEvent> enqueue(void* dst, const void* src, uint64_t nbytes);

  // Drains the queue and joins the thread. Idempotent; called by the destructor.
  void shutdown();

  uint64_t bytes_copied() const;
  // Seconds the copy thread spent on copies, from taking a job to completing it: the memcpy
  // plus, when throttled, the latency and bandwidth wait (the simulated link is busy then).
  double busy_s() const;

 private:
  struct Job {
    void* dst;
    const void* src;
    uint64_t nbytes;
    std::shared_ptr<CopyEvent> event;
  };
  void run();
  // The soonest a copy started at `start` may complete under the throttle.
  std::chrono::steady_clock::time_point deadline(std::chrono::steady_clock::time_point start,
                                                 uint64_t nbytes) const;

  const CopyEngineOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes the thread: a job queued, or stopping
  std::deque<Job> queue_;       // guarded by mu_
  bool busy_ = false;           // guarded by mu_: a job is taken and not yet completed
  bool stopping_ = false;       // guarded by mu_
  uint64_t bytes_copied_ = 0;   // guarded by mu_
  std::chrono::steady_clock::duration busy_time_{};  // guarded by mu_
  std::thread thread_;  // last: starts after everything above is initialized
};

}  // namespace strata
