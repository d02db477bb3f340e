// strata run: generate text. stdout carries exactly the prompt and the generated text.
#include <cstdio>
#include <fstream>

#include "core/file.h"
#include "core/log.h"
#include "model/model_source.h"
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
  std::string dump_logits;
  bool quiet = false;
};

int run_main(const RunArgs& a_in) {
  RunArgs a = a_in;
  if (a.quiet) set_log_level(LogLevel::kError);
  if (Status s = finish_generate_options(&a.gen, a.prompt); !s) return fail(s);
  auto engine = Engine::open(a.engine);
  if (!engine) return fail(engine.status());
  Engine& e = **engine;
  const ModelConfig& c = e.model().config;
  STRATA_LOG_INFO("model {} ({}, {} layers, {} dim, {} heads / {} kv, vocab {}), ctx {}",
                  e.model().name, c.arch_name, c.n_layer, c.n_embd, c.n_head, c.n_head_kv,
                  c.n_vocab, e.n_ctx());
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
  std::fwrite(a.gen.prompt.data(), 1, a.gen.prompt.size(), stdout);
  std::fflush(stdout);
  GenerateStats st;
  Status s = e.generate(a.gen, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }, &st);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!s) return fail(s);
  if (dump) {
    if (!dump_status) return fail(dump_status);
    if (Status cs = dump->commit(); !cs) return fail(cs);
  }
  const double prefill_tps = st.prefill_s > 0 ? st.n_prompt_tokens / st.prefill_s : 0;
  const double decode_tps = st.decode_s > 0 ? st.n_generated / st.decode_s : 0;
  std::fprintf(stderr,
               "strata: %ld tok | load %.2f s | prefill %ld tok @ %.1f tok/s | decode %.1f tok/s"
               " | ttft %.3f s | peak RSS %.1f MiB\n",
               static_cast<long>(st.n_generated), e.load_s(), static_cast<long>(st.n_prompt_tokens),
               prefill_tps, decode_tps, st.ttft_s, peak_rss_bytes() / 1048576.0);
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
    return sub;
  };
  return c;
}

}  // namespace strata::cli
