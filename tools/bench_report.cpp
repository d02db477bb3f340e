#include "tools/bench_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace strata::cli {

namespace {

using ojson = nlohmann::ordered_json;

// Readable numbers: 3 significant digits or so, never exponent notation.
std::string num(double x) {
  const double a = std::fabs(x);
  if (a >= 100) return fmt::format("{:.0f}", x);
  if (a >= 10) return fmt::format("{:.1f}", x);
  if (a >= 1) return fmt::format("{:.2f}", x);
  if (a >= 0.01 || a == 0) return fmt::format("{:.3f}", x);
  return fmt::format("{:.4f}", x);
}

std::string mean_std(const BenchResult& r, const char* name, double mean) {
  const double sd = std_of(r, name);
  if (r.repetitions < 2) return num(mean);
  return num(mean) + " ± " + num(sd);
}

std::string human_bytes(double b) {
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  if (b >= 1e3) return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{:.0f} B", b);
}

std::string csv_field(const ojson& v) {
  std::string s;
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ';';
      s += v[i].dump();
    }
  } else {
    s = v.dump();
  }
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

const std::vector<MeasuredField>& measured_fields() {
  static const std::vector<MeasuredField> fields = {
      {"load_time_seconds", &BenchResult::load_time_seconds},
      {"total_inference_time", &BenchResult::total_inference_time},
      {"tokens_per_second", &BenchResult::tokens_per_second},
      {"peak_vram_gb", &BenchResult::peak_vram_gb},
      {"ttft_seconds", &BenchResult::ttft_seconds},
      {"prefill_tokens_per_second", &BenchResult::prefill_tokens_per_second},
      {"decode_tokens_per_second", &BenchResult::decode_tokens_per_second},
      {"peak_rss_gb", &BenchResult::peak_rss_gb},
      {"bytes_streamed_per_token", &BenchResult::bytes_streamed_per_token},
      {"stream_gbps", &BenchResult::stream_gbps},
      {"stall_fraction", &BenchResult::stall_fraction},
      {"overlap_efficiency", &BenchResult::overlap_efficiency},
      {"expert_hit_rate", &BenchResult::expert_hit_rate},
      {"expert_prefetch_hit_rate", &BenchResult::expert_prefetch_hit_rate},
  };
  return fields;
}

double std_of(const BenchResult& r, const std::string& name) {
  const auto& f = measured_fields();
  for (size_t i = 0; i < f.size() && i < r.std_devs.size(); ++i) {
    if (name == f[i].name) return r.std_devs[i];
  }
  return 0;
}

ojson to_json(const BenchResult& r) {
  ojson j;
  j["model_name"] = r.model_name;
  j["total_layers"] = r.total_layers;
  j["gpu_layers"] = r.gpu_layers;
  j["cpu_layers"] = r.cpu_layers;
  j["loading_mode"] = r.loading_mode;
  j["load_time_seconds"] = r.load_time_seconds;
  j["tokens_generated"] = r.tokens_generated;
  j["total_inference_time"] = r.total_inference_time;
  j["tokens_per_second"] = r.tokens_per_second;
  j["per_layer_load_times"] = r.per_layer_load_times;
  j["peak_vram_gb"] = r.peak_vram_gb;
  j["device"] = r.device;
  j["offload_to"] = r.offload_to;
  j["prefetch"] = r.prefetch;
  j["keep"] = r.keep;
  j["threads"] = r.threads;
  j["prompt_tokens"] = r.prompt_tokens;
  j["ttft_seconds"] = r.ttft_seconds;
  j["prefill_tokens_per_second"] = r.prefill_tokens_per_second;
  j["decode_tokens_per_second"] = r.decode_tokens_per_second;
  j["peak_rss_gb"] = r.peak_rss_gb;
  j["bytes_streamed_per_token"] = r.bytes_streamed_per_token;
  j["stream_gbps"] = r.stream_gbps;
  j["stall_fraction"] = r.stall_fraction;
  j["overlap_efficiency"] = r.overlap_efficiency;
  j["expert_cache_gb"] = r.expert_cache_gb;
  j["expert_hit_rate"] = r.expert_hit_rate;
  j["expert_prefetch_hit_rate"] = r.expert_prefetch_hit_rate;
  j["repetitions"] = r.repetitions;
  j["link"] = r.link;
  j["link_gbps"] = r.link_gbps;
  j["stream_link_fraction"] = r.stream_link_fraction;
  const auto& f = measured_fields();
  for (size_t i = 0; i < f.size(); ++i) {
    j[std::string(f[i].name) + "_std"] = i < r.std_devs.size() ? r.std_devs[i] : 0.0;
  }
  return j;
}

Result<BenchResult> bench_result_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Status::error("bench result: not a JSON object");
  BenchResult r;
  try {
    r.model_name = j.at("model_name").get<std::string>();
    r.total_layers = j.at("total_layers").get<int64_t>();
    r.gpu_layers = j.at("gpu_layers").get<int64_t>();
    r.cpu_layers = j.at("cpu_layers").get<int64_t>();
    r.loading_mode = j.at("loading_mode").get<std::string>();
    r.tokens_generated = j.at("tokens_generated").get<int64_t>();
    r.per_layer_load_times = j.at("per_layer_load_times").get<std::vector<double>>();
    r.device = j.at("device").get<std::string>();
    r.offload_to = j.at("offload_to").get<std::string>();
    r.prefetch = j.at("prefetch").get<int64_t>();
    r.keep =
        j.value("keep", "first");  // reports from before --keep was swept kept the first layers
    r.threads = j.at("threads").get<int64_t>();
    r.prompt_tokens = j.at("prompt_tokens").get<int64_t>();
    r.repetitions = j.value("repetitions", int64_t{1});
    r.link = j.value("link", "");
    r.link_gbps = j.value("link_gbps", 0.0);
    r.stream_link_fraction = j.value("stream_link_fraction", 0.0);
    r.expert_cache_gb = j.value("expert_cache_gb", 0.0);
    for (const MeasuredField& f : measured_fields()) {
      // Reports from before experts streamed have no expert fields.
      if (std::string_view(f.name).starts_with("expert_") && !j.contains(f.name)) {
        r.std_devs.push_back(0.0);
        continue;
      }
      r.*f.member = j.at(f.name).get<double>();
      r.std_devs.push_back(j.value(std::string(f.name) + "_std", 0.0));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::errorf("bench result: {}", e.what());
  }
  return r;
}

BenchResult aggregate(const std::vector<BenchResult>& runs) {
  BenchResult out = runs.front();
  const double n = static_cast<double>(runs.size());
  out.repetitions = static_cast<int64_t>(runs.size());
  out.std_devs.clear();
  for (const MeasuredField& f : measured_fields()) {
    double sum = 0;
    for (const BenchResult& r : runs) sum += r.*f.member;
    const double mean = sum / n;
    double ss = 0;
    for (const BenchResult& r : runs) ss += (r.*f.member - mean) * (r.*f.member - mean);
    out.*f.member = mean;
    out.std_devs.push_back(runs.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0);
  }
  // Token counts are the same in every run (EOS is ignored); per-layer times are averaged
  // layer by layer.
  double tokens = 0;
  for (const BenchResult& r : runs) tokens += static_cast<double>(r.tokens_generated);
  out.tokens_generated = std::llround(tokens / n);
  for (size_t i = 0; i < out.per_layer_load_times.size(); ++i) {
    double sum = 0;
    for (const BenchResult& r : runs) {
      sum += i < r.per_layer_load_times.size() ? r.per_layer_load_times[i] : 0.0;
    }
    out.per_layer_load_times[i] = sum / n;
  }
  return out;
}

std::string format_markdown(const BenchContext& ctx, const std::vector<BenchResult>& rows) {
  std::string s;
  s += fmt::format("strata bench, {}\n\n", ctx.date);
  s += fmt::format("- command: `{}`\n", ctx.command);
  if (ctx.machine.is_object()) {
    s += fmt::format(
        "- machine: {}, {} CPUs, {} RAM, Linux {}; load average {} at the start, "
        "{} at the end\n",
        ctx.machine.value("cpu", "?"), ctx.machine.value("cpus", 0), ctx.machine.value("ram", "?"),
        ctx.machine.value("kernel", "?"), ctx.machine.value("load_average_start", "?"),
        ctx.machine.value("load_average_end", "?"));
  }
  s += "- probe: " +
       (ctx.probe_line.empty() ? "none (run `strata bench --probe` once)" : ctx.probe_line) + "\n";
  const int64_t reps = rows.empty() ? 0 : rows.front().repetitions;
  s += fmt::format(
      "- {} repetition{} per configuration, each in a fresh process{}; "
      "per_layer_load_times: smallest–largest of the per-layer medians\n",
      reps, reps == 1 ? "" : "s", reps > 1 ? " (mean ± sample standard deviation)" : "");
  if (!ctx.notes.empty()) s += "- " + ctx.notes + "\n";
  s += "\n";
  const char* cols[] = {"model_name",
                        "total_layers",
                        "gpu_layers",
                        "cpu_layers",
                        "loading_mode",
                        "device",
                        "offload_to",
                        "prefetch",
                        "keep",
                        "threads",
                        "load_time_seconds",
                        "tokens_generated",
                        "total_inference_time",
                        "tokens_per_second",
                        "ttft_seconds",
                        "prefill_tokens_per_second",
                        "decode_tokens_per_second",
                        "per_layer_load_times",
                        "peak_vram_gb",
                        "peak_rss_gb",
                        "bytes_streamed_per_token",
                        "stream_gbps",
                        "stall_fraction",
                        "overlap_efficiency"};
  const bool experts = std::any_of(rows.begin(), rows.end(),
                                   [](const BenchResult& r) { return r.expert_cache_gb > 0; });
  std::string header = "|", rule = "|";
  if (experts) {
    header += " expert_cache_gb | expert_hit_rate | expert_prefetch_hit_rate |";
    rule += "--:|--:|--:|";
  }
  for (const char* c : cols) {
    header += fmt::format(" {} |", c);
    rule +=
        std::string(std::string_view(c) == "model_name" || std::string_view(c) == "loading_mode" ||
                            std::string_view(c) == "device" ||
                            std::string_view(c) == "offload_to" || std::string_view(c) == "keep"
                        ? "---|"
                        : "--:|");
  }
  s += header + "\n" + rule + "\n";
  for (const BenchResult& r : rows) {
    std::string layers = "–";
    if (!r.per_layer_load_times.empty()) {
      auto [lo, hi] =
          std::minmax_element(r.per_layer_load_times.begin(), r.per_layer_load_times.end());
      layers = fmt::format("{}–{} s ×{}", num(*lo), num(*hi), r.per_layer_load_times.size());
    }
    std::string stream = "–";
    if (r.cpu_layers > 0) {
      stream = mean_std(r, "stream_gbps", r.stream_gbps);
      if (r.link_gbps > 0)
        stream += fmt::format(" ({:.0f}% of {})", 100 * r.stream_link_fraction, r.link);
    }
    if (experts) {
      s += r.expert_cache_gb > 0
               ? fmt::format("| {} | {} | {} ", num(r.expert_cache_gb),
                             mean_std(r, "expert_hit_rate", r.expert_hit_rate),
                             mean_std(r, "expert_prefetch_hit_rate", r.expert_prefetch_hit_rate))
               : std::string("| – | – | – ");
    }
    s += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} "
        "| {} | {} | {} | {} | {} | {} |\n",
        r.model_name, r.total_layers, r.gpu_layers, r.cpu_layers, r.loading_mode, r.device,
        r.offload_to, r.prefetch, r.keep, r.threads,
        mean_std(r, "load_time_seconds", r.load_time_seconds), r.tokens_generated,
        mean_std(r, "total_inference_time", r.total_inference_time),
        mean_std(r, "tokens_per_second", r.tokens_per_second),
        mean_std(r, "ttft_seconds", r.ttft_seconds),
        mean_std(r, "prefill_tokens_per_second", r.prefill_tokens_per_second),
        mean_std(r, "decode_tokens_per_second", r.decode_tokens_per_second), layers,
        num(r.peak_vram_gb), num(r.peak_rss_gb),
        r.cpu_layers > 0 ? human_bytes(r.bytes_streamed_per_token) : "0", stream,
        r.cpu_layers > 0 ? mean_std(r, "stall_fraction", r.stall_fraction) : "–",
        r.cpu_layers > 0 ? mean_std(r, "overlap_efficiency", r.overlap_efficiency) : "–");
  }
  return s;
}

std::string format_csv(const std::vector<BenchResult>& rows) {
  std::string s;
  for (size_t i = 0; i < rows.size(); ++i) {
    const ojson j = to_json(rows[i]);
    if (i == 0) {
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!first) s += ',';
        s += k;
        first = false;
      }
      s += "\n";
    }
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      if (!first) s += ',';
      s += csv_field(v);
      first = false;
    }
    s += "\n";
  }
  return s;
}

std::string format_json(const BenchContext& ctx, const std::vector<BenchResult>& rows) {
  ojson j;
  j["command"] = ctx.command;
  j["date"] = ctx.date;
  j["machine"] = ctx.machine;
  j["probe"] = ctx.probe;
  if (!ctx.notes.empty()) j["notes"] = ctx.notes;
  j["results"] = ojson::array();
  for (const BenchResult& r : rows) j["results"].push_back(to_json(r));
  return j.dump(2) + "\n";
}

std::string format_jsonl(const std::vector<BenchResult>& rows) {
  std::string s;
  for (const BenchResult& r : rows) s += to_json(r).dump() + "\n";
  return s;
}

Result<BenchReport> parse_json_report(const std::string& text) {
  const ojson j = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("results") || !j["results"].is_array()) {
    return Status::error("not a strata bench -o json report (no \"results\" array)");
  }
  BenchReport rep;
  rep.ctx.command = j.value("command", "");
  rep.ctx.date = j.value("date", "");
  rep.ctx.notes = j.value("notes", "");
  if (j.contains("machine")) rep.ctx.machine = j["machine"];
  if (j.contains("probe")) rep.ctx.probe = j["probe"];
  for (const auto& r : j["results"]) {
    STRATA_ASSIGN_OR_RETURN(BenchResult b, bench_result_from_json(nlohmann::json::parse(r.dump())));
    rep.rows.push_back(std::move(b));
  }
  return rep;
}

}  // namespace strata::cli
