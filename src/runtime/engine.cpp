#include "strata/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <cstdio>
#include <cstring>
#include <thread>

#include "backend/cpu/thread_pool.h"
#include "backend/device.h"
#include "core/data_dir.h"
#include "core/timer.h"
#include "model/model_source.h"
#include "runtime/transformer.h"
#include "store/weight_store.h"
#include "tokenizer/tokenizer.h"

namespace strata {

Engine::~Engine() {
  transformer_.reset();
  store_.reset();  // before the device it allocated from
}

int Engine::n_threads() const { return pool_->n_threads(); }

namespace {
// KV cache and scratch bytes the Transformer allocates, for --ram-budget.
uint64_t runtime_bytes(const ModelConfig& c, int64_t n_ctx, int64_t n_batch) {
  const uint64_t kv = 2ull * c.n_layer * n_ctx * c.kv_dim() * sizeof(float);
  const uint64_t scratch = static_cast<uint64_t>(n_batch) *
                           (3 * c.n_embd + 3 * c.q_dim() + 2 * c.kv_dim() + 2 * c.n_ff) * sizeof(float);
  return kv + scratch + static_cast<uint64_t>(c.n_vocab) * sizeof(float);
}
}  // namespace

Status Engine::forward(std::span<const int32_t> tokens, int64_t pos, float* logits,
                       bool all_logits, bool prefill, GenerateStats* st,
                       const GenerateOptions& opts) {
  ForwardTimings ft;
  const double t0 = now_seconds();
  Status s = transformer_->forward(tokens, pos, logits, all_logits, &ft);
  TokenTrace tr;
  tr.prefill = prefill;
  tr.n_tokens = static_cast<int64_t>(tokens.size());
  tr.wall_s = now_seconds() - t0;
  tr.loads = store_->take_loads();
  for (const LayerLoad& l : tr.loads) {
    tr.stall_s += l.stall_s;
    tr.transfer_s += l.ready_s - l.start_s;
    tr.bytes_streamed += l.bytes;
  }
  // Everything the pass did besides waiting: the layers, the embedding, the output head.
  tr.compute_s = std::max(0.0, tr.wall_s - tr.stall_s);
  tr.layer_compute_s = std::move(ft.layer_compute_s);
  if (opts.on_trace) opts.on_trace(tr);
  st->traces.push_back(std::move(tr));
  return s;
}

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& opts) {
  if (opts.n_threads < 0) return Status::errorf("-t must be >= 0 (0 = all), got {}", opts.n_threads);
  if (opts.n_ctx < 0) return Status::errorf("-c must be >= 0 (0 = the model's), got {}", opts.n_ctx);
  if (opts.n_batch < 1) return Status::errorf("-b must be >= 1, got {}", opts.n_batch);
  Stopwatch sw;
  std::unique_ptr<Engine> e(new Engine());
  std::string model_path = opts.model_path;
  if (model_path.empty()) {
    STRATA_ASSIGN_OR_RETURN(model_path, find_data_file(kBundledModel));
  }
  STRATA_ASSIGN_OR_RETURN(ModelSource m, open_model(model_path));
  e->model_ = std::make_unique<ModelSource>(std::move(m));
  STRATA_ASSIGN_OR_RETURN(e->tokenizer_, open_tokenizer(*e->model_, opts.tokenizer_path));
  if (e->tokenizer_->n_vocab() > e->model_->config.n_vocab) {
    return Status::errorf("{}: tokenizer has {} tokens but the model's vocabulary is {}",
                          model_path, e->tokenizer_->n_vocab(), e->model_->config.n_vocab);
  }
  const ModelConfig& c = e->model_->config;
  e->n_ctx_ = opts.n_ctx > 0 ? opts.n_ctx : std::min<int64_t>(c.n_ctx_train, 4096);
  if (e->n_ctx_ > (1 << 20)) return Status::errorf("context of {} is too large", e->n_ctx_);
  e->n_batch_ = std::clamp<int64_t>(opts.n_batch, 1, e->n_ctx_);
  int threads = opts.n_threads > 0 ? opts.n_threads
                                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  STRATA_ASSIGN_OR_RETURN(e->pool_, ThreadPool::create(threads));
  const PlacementOptions& po = opts.placement;
  if (po.device == "cpu") {
    e->device_ = make_cpu_device();
  } else if (po.device == "sim") {
    e->device_ = make_sim_device(po.sim);
  } else {
    return Status::errorf("--device must be cpu or sim, got '{}'", po.device);
  }
  // The budget covers the whole process: what is resident already (code, tokenizer,
  // metadata) plus the KV cache and scratch to come.
  const uint64_t base_bytes = current_rss_bytes();
  STRATA_ASSIGN_OR_RETURN(e->store_, StreamingStore::create(*e->model_, po, *e->device_,
                                                            base_bytes + runtime_bytes(c, e->n_ctx_, e->n_batch_)));
  e->transformer_ = std::make_unique<Transformer>(c, *e->store_, *e->pool_, e->n_ctx_, e->n_batch_);
  e->load_s_ = sw.elapsed_s();
  return e;
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
    return Status::errorf("--repeat-penalty must be a finite number > 0, got {}",
                          s.repeat_penalty);
  }
  if (s.repeat_last_n < 0) {
    return Status::errorf("--repeat-last-n must be >= 0, got {}", s.repeat_last_n);
  }
  return Status::ok();
}

Status Engine::generate(const GenerateOptions& opts,
                        const std::function<void(std::string_view)>& on_text,
                        GenerateStats* stats) {
  STRATA_TRY(check_generate_options(opts));
  GenerateStats local;
  GenerateStats& st = stats ? *stats : local;
  st = GenerateStats{};
  const Tokenizer& tok = *tokenizer_;
  std::vector<int32_t> prompt =
      opts.prompt_tokens.empty() ? tok.encode(opts.prompt, tok.special().add_bos, opts.parse_special)
                                 : opts.prompt_tokens;
  if (prompt.empty()) {
    if (tok.special().bos < 0) return Status::error("empty prompt and the vocabulary has no BOS token");
    prompt.push_back(tok.special().bos);
  }
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt >= n_ctx_) {
    return Status::errorf("prompt of {} tokens does not fit the context of {} (use -c)", n_prompt,
                          n_ctx_);
  }
  st.n_prompt_tokens = n_prompt;
  st.tokens = prompt;
  if (opts.on_prompt) opts.on_prompt(prompt);
  const int64_t V = model_->config.n_vocab;
  Sampler sampler(opts.sampling);
  for (int32_t t : prompt) sampler.accept(t);

  std::vector<float> logits;
  Stopwatch sw;
  for (int64_t at = 0; at < n_prompt; at += n_batch_) {
    const int64_t n = std::min(n_batch_, n_prompt - at);
    const bool all = static_cast<bool>(opts.on_logits);
    logits.resize((all ? n : 1) * V);
    STRATA_TRY(forward({prompt.data() + at, static_cast<size_t>(n)}, at, logits.data(), all, true,
                       &st, opts));
    if (all) {
      for (int64_t t = 0; t < n; ++t) opts.on_logits(logits.data() + t * V, V);
    }
  }
  if (opts.on_logits) {  // keep only the last row for sampling
    std::memmove(logits.data(), logits.data() + logits.size() - V, V * sizeof(float));
    logits.resize(V);
  }
  st.prefill_s = sw.elapsed_s();

  StreamDecoder decoder(tok, prompt.back());
  Stopwatch decode_sw;
  int64_t pos = n_prompt;
  for (int64_t i = 0; opts.n_predict < 0 || i < opts.n_predict; ++i) {
    int32_t next = sampler.sample(logits.data(), V);
    if (i == 0) st.ttft_s = sw.elapsed_s();
    if (tok.is_eog(next) && !opts.ignore_eos) break;
    sampler.accept(next);
    st.tokens.push_back(next);
    ++st.n_generated;
    std::string text = decoder.push(next);
    if (!text.empty()) on_text(text);
    if (opts.n_predict >= 0 && i + 1 == opts.n_predict) break;
    if (pos >= n_ctx_) break;  // context full
    STRATA_TRY(forward({&next, 1}, pos, logits.data(), false, false, &st, opts));
    if (opts.on_logits) opts.on_logits(logits.data(), V);
    ++pos;
  }
  std::string rest = decoder.flush();
  if (!rest.empty()) on_text(rest);
  st.decode_s = decode_sw.elapsed_s();
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
    for (const LayerLoad& l : t.loads) {
      spans.emplace_back(l.start_s, l.ready_s);
      per_layer[l.layer].push_back(l.ready_s - l.start_s);
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
    s.per_layer_load_s.push_back(v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
  }
  if (s.n_decode_steps > 0) s.bytes_per_token = static_cast<double>(s.bytes_streamed) / s.n_decode_steps;
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
