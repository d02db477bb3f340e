#include "backend/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <system_error>

#include "backend/cpu/cpu_features.h"
#include "core/check.h"

namespace strata {

namespace {
void chunk(int64_t n, int parts, int index, int64_t* begin, int64_t* end) {
  int64_t base = n / parts, extra = n % parts;
  *begin = index * base + (index < extra ? index : extra);
  *end = *begin + base + (index < extra ? 1 : 0);
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : ThreadPool(n_threads, NoStart{}) {
  Status s = start();
  STRATA_CHECK(s.is_ok(), "{}", s.message());
}

Result<std::unique_ptr<ThreadPool>> ThreadPool::create(int n_threads) {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (n_threads > kMaxThreadsPerCore * hw) {
    return Status::errorf("{} threads is too many: at most {} ({} x the {} hardware threads)",
                          n_threads, kMaxThreadsPerCore * hw, kMaxThreadsPerCore, hw);
  }
  std::unique_ptr<ThreadPool> pool(new ThreadPool(n_threads, NoStart{}));
  STRATA_TRY(pool->start());
  return pool;
}

Status ThreadPool::start() {
  // The kernel path is decided before any worker exists: on a CPU with AMX that probes the
  // tile instructions under temporary process-wide signal handlers (cpu_features.h).
  (void)active_cpu_path();
  try {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  } catch (const std::system_error& e) {
    const size_t started = workers_.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true);
    }
    start_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    return Status::errorf("cannot start compute thread {} of {}: {}", started + 2, n_threads_,
                          e.what());
  }
  return Status::ok();
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  job_ = &fn;
  indexed_job_ = nullptr;
  job_align_ = 0;
  dispatch(n);
}

void ThreadPool::parallel_for_dynamic(int64_t n, int64_t align, int64_t min_chunk,
                                      const std::function<void(int64_t, int64_t)>& fn) {
  parallel_for_dynamic_indexed(n, align, min_chunk,
                               [&fn](int64_t b, int64_t e, int /*thread*/) { fn(b, e); });
}

void ThreadPool::parallel_for_dynamic_indexed(
    int64_t n, int64_t align, int64_t min_chunk,
    const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  align = std::max<int64_t>(align, 1);
  min_chunk = std::max(min_chunk, align);
  if (n_threads_ == 1 || n <= min_chunk) {
    fn(0, n, 0);
    return;
  }
  job_ = nullptr;
  indexed_job_ = &fn;
  job_align_ = align;
  job_min_chunk_ = min_chunk;
  next_.store(0, std::memory_order_relaxed);
  dispatch(n);
}

void ThreadPool::dispatch(int64_t n) {
  job_n_ = n;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);  // publishes the job, job_n_, next_
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    // A worker that counted itself asleep either sees the new generation under the mutex
    // or is waiting on the condition variable: no wake-up is lost.
    std::lock_guard<std::mutex> lock(mu_);
    start_cv_.notify_all();
  }
  run_share(0);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4096) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // a worker was descheduled: let it run
    }
  }
  job_ = nullptr;
  indexed_job_ = nullptr;
}

void ThreadPool::run_share(int index) {
  const int64_t n = job_n_;
  if (job_align_ == 0) {
    int64_t b, e;
    chunk(n, n_threads_, index, &b, &e);
    if (b < e) (*job_)(b, e);
    return;
  }
  const std::function<void(int64_t, int64_t, int)>& fn = *indexed_job_;
  const int64_t align = job_align_, min_chunk = job_min_chunk_;
  int64_t b = next_.load(std::memory_order_relaxed);
  while (b < n) {
    int64_t size = (n - b + 2 * n_threads_ - 1) / (2 * n_threads_);
    size = std::max((size + align - 1) / align * align, min_chunk);
    const int64_t e = std::min(b + size, n);
    if (next_.compare_exchange_weak(b, e, std::memory_order_relaxed)) {
      fn(b, e, index);
      b = next_.load(std::memory_order_relaxed);
    }
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    if (g == seen && !stop_.load(std::memory_order_acquire)) {
      const auto spin_until =
          std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
      for (int k = 1; (g = generation_.load(std::memory_order_acquire)) == seen; ++k) {
        cpu_relax();
        if ((k & 255) == 0 && (stop_.load(std::memory_order_relaxed) ||
                               std::chrono::steady_clock::now() > spin_until)) {
          break;
        }
      }
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      start_cv_.wait(lock, [&] {
        return stop_.load() || generation_.load(std::memory_order_seq_cst) != seen;
      });
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      g = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = g;
    run_share(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace strata
