#include "core/log.h"

#include <atomic>

namespace strata {
namespace {
std::atomic<int>& level_storage() {
  static std::atomic<int> level{static_cast<int>(LogLevel::kInfo)};
  return level;
}
}  // namespace
LogLevel log_level() { return static_cast<LogLevel>(level_storage().load()); }
void set_log_level(LogLevel level) { level_storage().store(static_cast<int>(level)); }
}  // namespace strata
