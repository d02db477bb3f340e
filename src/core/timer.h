#pragma once
#include <chrono>

namespace strata {
// Monotonic wall-clock seconds since an arbitrary epoch.
inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Stopwatch {
 public:
  Stopwatch() : start_s_(now_seconds()) {}
  double elapsed_s() const { return now_seconds() - start_s_; }
  void reset() { start_s_ = now_seconds(); }

 private:
  double start_s_;
};
}  // namespace strata
