#include "strata/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "runtime/session_state.h"

namespace strata {

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& opts) {
  std::unique_ptr<Engine> e(new Engine());
  STRATA_ASSIGN_OR_RETURN(e->model_, Model::open(opts));
  STRATA_ASSIGN_OR_RETURN(e->session_, e->model_->new_session());
  return e;
}

Status Engine::generate(const GenerateOptions& opts, const TextCallback& on_text,
                        GenerateStats* stats) {
  GenerateOptions o = opts;
  o.reuse_cache = false;
  return session_->generate(o, on_text, stats);
}

Status check_generate_options(const GenerateOptions& o) {
  const SamplerOptions& s = o.sampling;
  if (o.n_predict < -1) {
    return Status::errorf("-n must be -1 (until end of generation) or a count >= 0, got {}",
                          o.n_predict);
  }
  if (!std::isfinite(s.temperature) || s.temperature < 0) {
    return Status::errorf("--temp must be a finite number >= 0, got {}", s.temperature);
  }
  if (s.top_k < 0) return Status::errorf("--top-k must be >= 0 (0 = off), got {}", s.top_k);
  if (!(s.top_p >= 0 && s.top_p <= 1)) {
    return Status::errorf("--top-p must be in [0, 1], got {}", s.top_p);
  }
  if (!(s.min_p >= 0 && s.min_p <= 1)) {
    return Status::errorf("--min-p must be in [0, 1], got {}", s.min_p);
  }
  if (!std::isfinite(s.repeat_penalty) || s.repeat_penalty <= 0) {
    return Status::errorf("--repeat-penalty must be a finite number > 0, got {}", s.repeat_penalty);
  }
  if (s.repeat_last_n < 0) {
    return Status::errorf("--repeat-last-n must be >= 0, got {}", s.repeat_last_n);
  }
  return Status::ok();
}

StreamSummary summarize_stream(const GenerateStats& st) {
  StreamSummary s;
  std::vector<std::pair<double, double>> spans;
  std::map<int64_t, std::vector<double>> per_layer;
  for (const TokenTrace& t : st.traces) {
    if (t.prefill) continue;
    ++s.n_decode_steps;
    s.wall_s += t.wall_s;
    s.compute_s += t.compute_s;
    s.stall_s += t.stall_s;
    s.bytes_streamed += t.bytes_streamed;
    s.expert_lookups += t.expert_lookups;
    s.expert_hits += t.expert_hits;
    s.expert_prefetch_hits += t.expert_prefetch_hits;
    s.expert_prefetched += t.expert_prefetched;
    s.kv_bytes_read += t.kv_bytes_read;
    s.kv_bytes_written += t.kv_bytes_written;
    for (const LayerLoad& l : t.loads) {
      spans.emplace_back(l.start_s, l.ready_s);
      if (l.expert < 0 && l.layer >= 0) per_layer[l.layer].push_back(l.ready_s - l.start_s);
    }
  }
  // Loads overlap one another (prefetch > 1, copies behind reads): count busy time once.
  std::sort(spans.begin(), spans.end());
  double cur_begin = 0, cur_end = -1;
  for (const auto& [b, e] : spans) {
    if (b > cur_end) {
      if (cur_end > cur_begin) s.transfer_s += cur_end - cur_begin;
      cur_begin = b;
      cur_end = e;
    } else {
      cur_end = std::max(cur_end, e);
    }
  }
  if (cur_end > cur_begin) s.transfer_s += cur_end - cur_begin;
  for (auto& [layer, v] : per_layer) {
    std::sort(v.begin(), v.end());
    s.streamed_layers.push_back(layer);
    s.per_layer_load_s.push_back(v.size() % 2 ? v[v.size() / 2]
                                              : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
  }
  if (s.n_decode_steps > 0)
    s.bytes_per_token = static_cast<double>(s.bytes_streamed) / s.n_decode_steps;
  if (s.expert_lookups > 0) {
    s.expert_hit_rate = static_cast<double>(s.expert_hits) / static_cast<double>(s.expert_lookups);
    s.expert_prefetch_hit_rate =
        static_cast<double>(s.expert_prefetch_hits) / static_cast<double>(s.expert_lookups);
  }
  if (s.transfer_s > 0) s.stream_gbps = s.bytes_streamed / s.transfer_s / 1e9;
  if (s.wall_s > 0) {
    s.stall_fraction = s.stall_s / s.wall_s;
    s.overlap_efficiency = std::max(s.compute_s, s.transfer_s) / s.wall_s;
  }
  return s;
}

namespace {
uint64_t proc_status_kib(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, key, n) == 0) {
      std::sscanf(line + n, "%lu", &kb);
      break;
    }
  }
  std::fclose(f);
  return kb;
}
}  // namespace

uint64_t peak_rss_bytes() { return proc_status_kib("VmHWM:") * 1024; }
uint64_t current_rss_bytes() { return proc_status_kib("VmRSS:") * 1024; }

}  // namespace strata
