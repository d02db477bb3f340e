#include "core/quant/parallel.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace strata::quant {

void from_float_parallel(DType t, const float* src, void* dst, int64_t n, int n_threads) {
  const TypeTraits& tr = type_traits(t);
  const int64_t blocks = n / tr.block_elems;
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Plain types convert at memory speed; only block quantizers are worth the threads.
  const int64_t parts = tr.block_elems == 1 ? 1 : std::min<int64_t>(n_threads, blocks / 64 + 1);
  auto run = [&](int64_t p) {
    const int64_t b0 = blocks * p / parts, b1 = blocks * (p + 1) / parts;
    tr.from_float(src + b0 * tr.block_elems, static_cast<char*>(dst) + b0 * tr.block_bytes,
                  (b1 - b0) * tr.block_elems);
  };
  std::vector<std::thread> threads;
  for (int64_t p = 1; p < parts; ++p) threads.emplace_back(run, p);
  run(0);
  for (std::thread& th : threads) th.join();
}

}  // namespace strata::quant
