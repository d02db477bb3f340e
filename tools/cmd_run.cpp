// strata run: generate text. stdout carries exactly the prompt and the generated text.
#include <cstdio>
#include <fstream>

#include "backend/cpu/cpu_features.h"
#include "backend/device.h"
#include "core/file.h"
#include "core/log.h"
#include "model/model_source.h"
#include "store/streaming_store.h"
#include "strata/engine.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/options.h"

namespace strata::cli {

namespace {
struct RunArgs {
  EngineOptions engine;
  GenerateOptions gen;
  PromptOptions prompt;
  PlacementText placement;
  std::string dump_logits;
  bool quiet = false;
  bool verbose_layers = false;
};

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    size_t nl = s.find('\n', at);
    out.push_back(s.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

// The one line every run ends with.
std::string stats_line(const Engine& e, const GenerateStats& st) {
  const double prefill_tps = st.prefill_s > 0 ? st.n_prompt_tokens / st.prefill_s : 0;
  const double decode_tps = st.decode_s > 0 ? st.n_generated / st.decode_s : 0;
  std::string line = fmt::format(
      "strata: {} tok | load {:.2f} s | prefill {} tok @ {:.1f} tok/s | decode {:.1f} tok/s | "
      "ttft {:.3f} s",
      st.n_generated, e.load_s(), st.n_prompt_tokens, prefill_tps, decode_tps, st.ttft_s);
  const StreamSummary ss = summarize_stream(st);
  if (ss.bytes_streamed > 0) {
    line += fmt::format(" | stream {:.2f} GB/s | stall {:.0f}% | overlap {:.0f}%", ss.stream_gbps,
                        100 * ss.stall_fraction, 100 * ss.overlap_efficiency);
    if (ss.n_decode_steps > 0) {
      line += fmt::format(" | {} streamed/token",
                          format_bytes(static_cast<uint64_t>(ss.bytes_per_token)));
    }
  }
  if (ss.expert_lookups > 0) {
    line += fmt::format(" | expert cache hits {:.1f}% (+{:.1f}% read ahead)",
                        100 * ss.expert_hit_rate, 100 * ss.expert_prefetch_hit_rate);
  }
  if (e.shared_model().kv_on_disk() && ss.n_decode_steps > 0) {
    line += fmt::format(" | KV on disk {} read/token",
                        format_bytes(ss.kv_bytes_read / ss.n_decode_steps));
  }
  line += fmt::format(" | peak RSS {}", format_bytes(peak_rss_bytes()));
  if (!e.device().shares_host_memory()) {
    line += fmt::format(" | peak device {}", format_bytes(e.device().stats().peak_bytes));
  }
  return line;
}

int run_main(const RunArgs& a_in) {
  RunArgs a = a_in;
  if (a.quiet) set_log_level(LogLevel::kError);
  if (Status s = finish_generate_options(&a.gen, a.prompt); !s) return fail(s);
  if (Status s = parse_placement(a.placement, &a.engine.placement); !s) return fail(s);
  auto engine = Engine::open(a.engine);
  if (!engine) return fail(engine.status());
  Engine& e = **engine;
  const ModelConfig& c = e.model().config;
  STRATA_LOG_INFO("model {} ({}, {} layers, {} dim, {} heads / {} kv, vocab {}), ctx {}, KV {}",
                  e.model().name, c.arch_name, c.n_layer, c.n_embd, c.n_head, c.n_head_kv,
                  c.n_vocab, e.n_ctx(), kv_type_name(e.shared_model().kv_type()));
  STRATA_LOG_INFO("cpu kernels: {}, {} threads", cpu_description(), e.n_threads());
  for (const std::string& l : split_lines(e.store().plan().describe())) STRATA_LOG_INFO("{}", l);
  if (e.store().plan().n_streamed() > 0)
    STRATA_LOG_INFO("streaming: {}", e.store().io_description());
  if (a.verbose_layers) {
    a.gen.on_trace = [](const TokenTrace& t) {
      std::string line = "layer_load: [";
      for (size_t i = 0; i < t.loads.size(); ++i) {
        line += fmt::format("{}{:.3f}", i ? ", " : "", t.loads[i].ready_s - t.loads[i].start_s);
      }
      line += fmt::format("] stall:{:.3f} compute:{:.3f} t:{:.3f}{}", t.stall_s, t.compute_s,
                          t.wall_s, t.prefill ? fmt::format(" (prefill {} tok)", t.n_tokens) : "");
      std::fprintf(stderr, "%s\n", line.c_str());
    };
  }
  if (!a.prompt.seed_given && a.gen.sampling.temperature > 0) {
    STRATA_LOG_INFO("seed {} (pass --seed to reproduce)", a.gen.sampling.seed);
  }
  std::unique_ptr<AtomicFileWriter> dump;
  Status dump_status = Status::ok();
  if (!a.dump_logits.empty()) {
    auto w = AtomicFileWriter::create(a.dump_logits);
    if (!w) return fail(w.status());
    dump = std::make_unique<AtomicFileWriter>(std::move(w).value());
    a.gen.on_logits = [&](const float* logits, int64_t n_vocab) {
      if (dump_status) dump_status = dump->write(logits, n_vocab * sizeof(float));
    };
  }
  bool echoed = false;  // a prompt the engine refuses (too long, say) is never echoed
  a.gen.on_prompt = [&a, &echoed](const std::vector<int32_t>&) {
    std::fwrite(a.gen.prompt.data(), 1, a.gen.prompt.size(), stdout);
    std::fflush(stdout);
    echoed = true;
  };
  GenerateStats st;
  Status s = e.generate(
      a.gen,
      [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return true;
      },
      &st);
  if (echoed) {
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (!s) return fail(s);
  if (dump) {
    if (!dump_status) return fail(dump_status);
    if (Status cs = dump->commit(); !cs) return fail(cs);
  }
  std::fprintf(stderr, "%s\n", stats_line(e, st).c_str());
  return 0;
}
}  // namespace

Command run_command() {
  auto args = std::make_shared<RunArgs>();
  Command c;
  c.run = [args] { return run_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand("run", "Generate text from a prompt");
    add_engine_options(*sub, &args->engine);
    add_generate_options(*sub, &args->gen, &args->prompt);
    sub->add_option("--dump-logits", args->dump_logits,
                    "Write every computed logit row (float32, one row per position) to FILE");
    sub->add_flag("-q,--quiet", args->quiet, "Only errors on stderr (the stats line stays)");
    add_placement_options(*sub, &args->engine.placement, &args->placement);
    sub->add_flag("--verbose-layers", args->verbose_layers,
                  "Per forward pass: each streamed layer's load time (request to ready), stall, "
                  "compute and wall time");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
