#pragma once
// Logging to stderr. stdout belongs to generated text only.

#include <fmt/format.h>

#include <cstdio>

namespace strata {
enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

LogLevel log_level();
void set_log_level(LogLevel level);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (level > log_level()) return;
  std::string line = fmt::format(f, std::forward<Args>(args)...);
  std::fprintf(stderr, "strata: %s\n", line.c_str());
}
#define STRATA_LOG_INFO(...) ::strata::log(::strata::LogLevel::kInfo, __VA_ARGS__)
#define STRATA_LOG_WARN(...) ::strata::log(::strata::LogLevel::kWarn, __VA_ARGS__)
#define STRATA_LOG_DEBUG(...) ::strata::log(::strata::LogLevel::kDebug, __VA_ARGS__)
}  // namespace strata
