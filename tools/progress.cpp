#include "tools/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace strata::cli {

ProgressLine::ProgressLine(std::string label, uint64_t min_total_bytes)
    : label_(std::move(label)),
      min_total_bytes_(min_total_bytes),
      tty_(::isatty(STDERR_FILENO) == 1) {}

void ProgressLine::update(uint64_t done, uint64_t total) {
  done_ = done;
  total_ = total;
  const double t = clock_.elapsed_s();
  if (done >= total || total < min_total_bytes_) return;  // finish() prints the last line
  if (t - last_draw_s_ < (tty_ ? 0.1 : 10.0)) return;
  if (!tty_ && last_draw_s_ < 0) {  // the first line only after 10 s
    last_draw_s_ = 0;
    return;
  }
  last_draw_s_ = t;
  std::fprintf(stderr, tty_ ? "\r%s" : "%s\n", line().c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::finish(bool ok) {
  if (total_ < min_total_bytes_) return;
  if (ok) {
    std::fprintf(stderr, "%s%s\n", tty_ && drawn_ ? "\r" : "", line().c_str());
  } else if (drawn_ && tty_) {
    std::fprintf(stderr, "\n");
  }
}

std::string ProgressLine::line() const {
  const double s = std::max(clock_.elapsed_s(), 1e-9);
  const double pct = total_ ? 100.0 * double(done_) / double(total_) : 100.0;
  // Small models in MB: "0.00 / 0.00 GB" says nothing. Padded so a shorter redraw leaves no
  // characters of the previous one behind.
  const bool gb = total_ >= 1000000000ull;
  const double unit = gb ? 1e9 : 1e6;
  return fmt::format("strata: {} {:5.1f}%  {:.2f} / {:.2f} {}  {:.0f} MB/s   ", label_, pct,
                     done_ / unit, total_ / unit, gb ? "GB" : "MB", done_ / 1e6 / s);
}

}  // namespace strata::cli
