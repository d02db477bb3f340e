#pragma once
// A fixed pool of worker threads for data-parallel loops. The calling thread takes part,
// so a pool of n threads has n-1 workers. parallel_for() is called by one thread at a time
// (the executor); not reentrant. Not copyable.
//
// A decode step runs ~130 parallel loops a few hundred microseconds apart; waking a sleeping
// thread through the kernel for each cost ~5% of a step. So workers spin on the job counter
// for a while after each job (kSpinMicros) before sleeping on the condition variable, and
// the caller spins for the workers to finish: an idle pool sleeps, a busy one never does.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/status.h"

namespace strata {

class ThreadPool {
 public:
  // At most this many threads per hardware thread: more only adds contention, and a typo
  // such as -t 100000 must be an error rather than an abort.
  static constexpr int kMaxThreadsPerCore = 4;
  // An error if n_threads exceeds kMaxThreadsPerCore x the hardware threads or the system
  // refuses to start a thread (a process limit); never throws.
  [[nodiscard]] static Result<std::unique_ptr<ThreadPool>> create(int n_threads);
  explicit ThreadPool(int n_threads);  // STRATA_CHECKs that every thread started
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Splits [0, n) into n_threads contiguous chunks and runs fn(begin, end) on each; the
  // split depends only on n and n_threads, so results are reproducible run to run.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct NoStart {};
  ThreadPool(int n_threads, NoStart) : n_threads_(n_threads < 1 ? 1 : n_threads) {}
  Status start();  // starts the workers; on failure joins the ones that started
  void worker_loop(int index);

  static constexpr int64_t kSpinMicros = 300;

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;  // guards sleeping on start_cv_
  std::condition_variable start_cv_;
  // Published by the release-increment of generation_, read after its acquire-load.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};  // one more per job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<int> sleepers_{0};         // workers waiting on start_cv_
  std::atomic<bool> stop_{false};
};

}  // namespace strata
