#include "tools/bench_run.h"

#include "backend/device.h"
#include "core/timer.h"
#include "model/model_source.h"
#include "store/streaming_store.h"
#include "tokenizer/tokenizer.h"

namespace strata::cli {

std::vector<int32_t> make_prompt_tokens(const Tokenizer& tok, int64_t n_tokens) {
  // The article's prompt, then plain sentences: ordinary text in every vocabulary.
  static constexpr const char* kSentences[] = {
      " The weather was mild, and the market in the old town was busy.",
      " She counted the boats in the harbour and wrote the number down.",
      " Every morning the baker opened the shop at seven and sold bread until noon.",
  };
  std::string text = "The capital of France is Paris.";
  std::vector<int32_t> ids = tok.encode(text, tok.special().add_bos);
  size_t next = 0;
  while (static_cast<int64_t>(ids.size()) < n_tokens) {
    // A sentence is 12+ tokens in every vocabulary here: add enough for the missing tokens
    // at once, so long prompts take few encodes.
    const int64_t missing = n_tokens - static_cast<int64_t>(ids.size());
    for (int64_t k = 0; k < std::max<int64_t>(1, missing / 12); ++k) {
      text += kSentences[next++ % std::size(kSentences)];
    }
    ids = tok.encode(text, tok.special().add_bos);
  }
  ids.resize(static_cast<size_t>(std::max<int64_t>(n_tokens, 0)));
  return ids;
}

Result<BenchResult> run_bench_once(const EngineOptions& opts, int64_t n_prompt, int64_t n_gen,
                                   float temp) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::open(opts));
  Engine& e = *engine;
  GenerateOptions g;
  g.prompt_tokens = make_prompt_tokens(e.tokenizer(), n_prompt);
  g.n_predict = n_gen;
  g.ignore_eos = true;
  g.sampling.temperature = temp;  // greedy, or sampled with a fixed seed: the same every run
  g.sampling.seed = 1;
  g.sampling.top_k = 0;  // no filters: as varied as the model's distribution
  g.sampling.top_p = 1;
  g.sampling.min_p = 0;
  GenerateStats st;
  Stopwatch sw;
  STRATA_TRY(e.generate(
      g, [](std::string_view) { return true; }, &st));
  const double total_s = sw.elapsed_s();
  const StreamSummary ss = summarize_stream(st);
  const PlacementPlan& plan = e.store().plan();

  BenchResult r;
  r.model_name = e.model().name;
  r.total_layers = e.model().config.n_layer;
  r.gpu_layers = plan.n_resident();
  r.cpu_layers = plan.n_streamed();
  r.loading_mode = r.cpu_layers > 0 ? "partial" : "full";
  r.load_time_seconds = e.load_s();
  r.tokens_generated = st.n_generated;
  r.total_inference_time = total_s;
  r.tokens_per_second = total_s > 0 ? st.n_generated / total_s : 0;
  r.per_layer_load_times = ss.per_layer_load_s;
  r.peak_vram_gb = e.device().stats().peak_bytes / 1e9;
  r.device = e.device().name();
  r.offload_to = r.cpu_layers > 0 ? tier_name(plan.offload_tier) : "none";
  r.prefetch = r.cpu_layers > 0 ? plan.prefetch : 0;
  r.keep = r.cpu_layers > 0 ? resident_policy_name(opts.placement.keep) : "none";
  r.threads = e.n_threads();
  r.prompt_tokens = st.n_prompt_tokens;
  r.ttft_seconds = st.ttft_s;
  r.prefill_tokens_per_second = st.prefill_s > 0 ? st.n_prompt_tokens / st.prefill_s : 0;
  // The first token comes from the prompt's logits; the others each cost one decode step.
  const double after_first_s = total_s - st.ttft_s;
  r.decode_tokens_per_second =
      st.n_generated > 1 && after_first_s > 0 ? (st.n_generated - 1) / after_first_s : 0;
  r.bytes_streamed_per_token = ss.bytes_per_token;
  r.stream_gbps = ss.stream_gbps;
  r.stall_fraction = ss.stall_fraction;
  r.overlap_efficiency = ss.overlap_efficiency;
  if (plan.experts_streamed) {
    r.expert_cache_gb = static_cast<double>(plan.expert_slots) * plan.expert_slot_bytes / 1e9;
    r.expert_hit_rate = ss.expert_hit_rate;
    r.expert_prefetch_hit_rate = ss.expert_prefetch_hit_rate;
  }
  r.peak_rss_gb = peak_rss_bytes() / 1e9;
  return r;
}

}  // namespace strata::cli
