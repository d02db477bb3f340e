#pragma once
// strata bench results: one configuration's measurements (the article's BenchmarkResult
// fields under their exact names, plus streaming figures), their mean and standard deviation
// over repetitions, and the md / csv / json / jsonl reports.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::cli {

// One configuration: a single run (from a bench child) or the mean over repetitions, with
// the sample standard deviation of each measured figure in the *_std fields.
struct BenchResult {
  // The article's BenchmarkResult.
  std::string model_name;
  int64_t total_layers = 0;
  int64_t gpu_layers = 0;        // resident on the compute device
  int64_t cpu_layers = 0;        // offloaded: streamed from RAM or disk every token
  std::string loading_mode;      // "full" (nothing streamed) or "partial"
  double load_time_seconds = 0;  // Engine::open: headers, tokenizer, resident weights
  int64_t tokens_generated = 0;
  double total_inference_time = 0;           // the whole generate call: prefill + decode, seconds
  double tokens_per_second = 0;              // tokens_generated / total_inference_time
  std::vector<double> per_layer_load_times;  // seconds, per streamed layer, median over tokens
  double peak_vram_gb = 0;  // peak compute-device memory (CPU backend: RAM it allocated)
  // Beyond the article.
  std::string device;      // "cpu", "sim"
  std::string offload_to;  // "ram", "disk", or "none" when nothing streams
  int64_t prefetch = 0;    // 0 when nothing streams
  std::string keep;        // "spread", "first", "first-last"; "none" when nothing streams
  int64_t threads = 0;
  int64_t prompt_tokens = 0;
  double ttft_seconds = 0;
  double prefill_tokens_per_second = 0;
  double decode_tokens_per_second = 0;  // tokens after the first / time after the first
  double peak_rss_gb = 0;               // the configuration's own process (VmHWM), 1e9 bytes
  double bytes_streamed_per_token = 0;
  double stream_gbps = 0;         // streamed bytes / time the load pipeline was busy
  double stall_fraction = 0;      // decode time compute waited for streamed layers
  double overlap_efficiency = 0;  // max(compute, transfer) / wall over decode steps
  // Mixture-of-experts models whose streamed layers stream expert by expert.
  double expert_cache_gb = 0;  // the expert cache's size, 1e9 bytes (0: experts do not stream)
  double expert_hit_rate = 0;  // decode steps' experts in the cache from an earlier use
  double expert_prefetch_hit_rate = 0;  // decode steps' experts read ahead on a guess
  int64_t repetitions = 1;
  // The link streamed layers cross and its probed ceiling ("" and 0 without a probe).
  std::string link;
  double link_gbps = 0;
  double stream_link_fraction = 0;  // stream_gbps / link_gbps
  // Sample standard deviations over repetitions, same order as kMeasuredFields.
  std::vector<double> std_devs;
};

// The measured (floating-point) fields that get a mean and a "<name>_std".
struct MeasuredField {
  const char* name;
  double BenchResult::*member;
};
const std::vector<MeasuredField>& measured_fields();

nlohmann::ordered_json to_json(const BenchResult& r);
[[nodiscard]] Result<BenchResult> bench_result_from_json(const nlohmann::json& j);

// Mean over `runs` (all of one configuration), standard deviations in std_devs.
BenchResult aggregate(const std::vector<BenchResult>& runs);
// The standard deviation of the field called `name` ("tokens_per_second"); 0 if unknown.
double std_of(const BenchResult& r, const std::string& name);

// What every report starts with: command, date, machine, probe figures.
struct BenchContext {
  std::string command;
  std::string date;                // ISO 8601, UTC
  nlohmann::ordered_json machine;  // cpu, cores, ram, kernel, load average
  nlohmann::ordered_json probe;    // null when no probe has been run
  std::string probe_line;          // the probe figures in one line, "" without a probe
  std::string notes;               // e.g. "the page cache was not dropped"
};

std::string format_markdown(const BenchContext& ctx, const std::vector<BenchResult>& rows);
std::string format_csv(const std::vector<BenchResult>& rows);
std::string format_json(const BenchContext& ctx, const std::vector<BenchResult>& rows);
std::string format_jsonl(const std::vector<BenchResult>& rows);
// Reads back what format_json wrote (probe_line is left empty).
struct BenchReport {
  BenchContext ctx;
  std::vector<BenchResult> rows;
};
[[nodiscard]] Result<BenchReport> parse_json_report(const std::string& text);

}  // namespace strata::cli
