#pragma once
// STRATA_CHECK: always-on invariant checks for programming errors (never for bad input,
// which gets a Status). Prints the condition, file, line and message, then aborts.

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#define STRATA_CHECK(cond, ...)                                                        \
  do {                                                                                 \
    if (!(cond)) [[unlikely]] {                                                        \
      std::fprintf(stderr, "strata: internal error: %s:%d: check '%s' failed: %s\n",  \
                   __FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__).c_str());       \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
