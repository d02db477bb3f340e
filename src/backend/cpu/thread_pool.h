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

  // Runs fn(begin, end) over [0, n) in chunks the threads take as they finish the last one,
  // each the remaining work / (2 x threads) rounded up to a multiple of `align`, at least
  // `min_chunk` (the last chunk ends at n): large chunks first, small ones at the end, so a
  // thread the system slows down (a shared VM's steal time, an interrupt) leaves its share to
  // the others instead of keeping them waiting. Which thread runs which chunk changes run to
  // run, so fn must give the same results whatever the chunking (as matmul's rows do).
  void parallel_for_dynamic(int64_t n, int64_t align, int64_t min_chunk,
                            const std::function<void(int64_t, int64_t)>& fn);
  // The same, fn(begin, end, thread) also told which thread runs the chunk (0 .. n_threads - 1;
  // no two chunks run at once on one thread), for per-thread scratch.
  void parallel_for_dynamic_indexed(int64_t n, int64_t align, int64_t min_chunk,
                                    const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  struct NoStart {};
  ThreadPool(int n_threads, NoStart) : n_threads_(n_threads < 1 ? 1 : n_threads) {}
  Status start();  // starts the workers; on failure joins the ones that started
  void worker_loop(int index);
  void run_share(int index);  // this thread's part of the current job
  void dispatch(int64_t n);   // runs job_ or indexed_job_ over [0, n) on every thread

  static constexpr int64_t kSpinMicros = 300;

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;  // guards sleeping on start_cv_
  std::condition_variable start_cv_;
  // Published by the release-increment of generation_, read after its acquire-load.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  const std::function<void(int64_t, int64_t, int)>* indexed_job_ = nullptr;  // dynamic splits
  int64_t job_n_ = 0;
  int64_t job_align_ = 0;  // 0: the static split; else parallel_for_dynamic's chunks
  int64_t job_min_chunk_ = 0;
  std::atomic<int64_t> next_{0};         // parallel_for_dynamic: the first index no thread took yet
  std::atomic<uint64_t> generation_{0};  // one more per job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<int> sleepers_{0};         // workers waiting on start_cv_
  std::atomic<bool> stop_{false};
};

}  // namespace strata
