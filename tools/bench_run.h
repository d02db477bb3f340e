#pragma once
// One benchmark run, as a bench child process does it: open a fresh Engine (so the load is
// measured), generate from a prompt of exactly N tokens, measure everything BenchResult holds.

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "strata/engine.h"
#include "tools/bench_report.h"

namespace strata::cli {

// A deterministic prompt of exactly `n_tokens` ids: a fixed English text, repeated as
// needed, encoded (with BOS where the model adds one) and cut to length.
std::vector<int32_t> make_prompt_tokens(const Tokenizer& tok, int64_t n_tokens);

// Opens the engine, generates `n_gen` tokens (EOS ignored) after an `n_prompt`-token prompt,
// greedily or, `temp` > 0, sampled from the whole distribution with seed 1, and measures. Peak RSS
// is this process's: run it in a fresh process.
[[nodiscard]] Result<BenchResult> run_bench_once(const EngineOptions& opts, int64_t n_prompt,
                                                 int64_t n_gen, float temp = 0);

}  // namespace strata::cli
