#pragma once
// The progress line of the commands that write big files (convert, make-model, quantize):
// percent, bytes, MB/s on stderr. On a terminal it is redrawn in place with \r (at most every
// 100 ms: faster redraws cost more than they show); elsewhere (logs, CI) a line is printed at
// most every 10 s, and the final line always.

#include <cstdint>
#include <string>

#include "core/timer.h"

namespace strata::cli {

class ProgressLine {
 public:
  // `label` starts the line: "convert", "make-model out.gguf". Nothing is printed for writes
  // of fewer than `min_total_bytes` (they take a moment and need no progress).
  explicit ProgressLine(std::string label, uint64_t min_total_bytes = 0);
  void update(uint64_t done, uint64_t total);
  // After a failure the line stays as last drawn: the error follows on its own line.
  void finish(bool ok);

 private:
  std::string line() const;
  std::string label_;
  uint64_t min_total_bytes_;
  bool tty_;
  bool drawn_ = false;
  uint64_t done_ = 0, total_ = 0;
  Stopwatch clock_;
  double last_draw_s_ = -1;
};

}  // namespace strata::cli
