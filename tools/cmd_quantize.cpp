// strata quantize IN OUT TYPE: a float model (GGUF or Hugging Face directory) to a quantized
// GGUF with llama.cpp's type mixes.
#include "core/log.h"
#include "core/timer.h"
#include "model/model_source.h"
#include "model/quantize.h"
#include "store/placement.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace strata::cli {

namespace {

struct QuantizeArgs {
  std::string in, out, type;
  int threads = 0;
};

int quantize_main(const QuantizeArgs& a) {
  auto mix = parse_quant_mix(a.type);
  if (!mix) return fail(mix.status());
  auto model = open_model(a.in);
  if (!model) return fail(model.status());
  QuantizeOptions o;
  o.n_threads = a.threads;
  ProgressLine bar("quantize " + a.out);
  o.on_progress = [&bar](uint64_t done, uint64_t total) { bar.update(done, total); };
  Stopwatch sw;
  Status s = quantize_model(*model, *mix, a.out, o);
  bar.finish(s.is_ok());
  if (!s) return fail(s);
  auto written = open_model(a.out);  // the file is what it claims to be
  if (!written) return fail(written.status().with_context("the written file does not load"));
  STRATA_LOG_INFO("quantize: wrote {} as {} ({}, {} layers, {}) in {:.1f} s", a.out, mix->name,
                  model->config.arch_name, model->config.n_layer,
                  format_bytes(written->index.total_bytes()), sw.elapsed_s());
  return 0;
}

}  // namespace

Command quantize_command() {
  auto args = std::make_shared<QuantizeArgs>();
  Command c;
  c.run = [args] { return quantize_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "quantize",
        "Quantize an F32/F16/BF16 GGUF or Hugging Face model to a GGUF (llama.cpp's mixes)");
    sub->add_option("input", args->in, "GGUF file or Hugging Face directory")
        ->required()
        ->check(non_empty_path());
    sub->add_option("output", args->out, "GGUF file to write (atomically)")
        ->required()
        ->check(non_empty_path());
    sub->add_option(
           "type", args->type,
           "llama-quantize's names: Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q5_1, Q5_0, Q4_K_M, Q4_K_S, "
           "Q4_1, Q4_0, IQ4_XS, IQ4_NL, Q3_K_L, Q3_K_M, Q3_K_S, Q2_K (Q5_K, Q4_K, Q3_K: the _M "
           "mixes)")
        ->required();
    sub->add_option("-t,--threads", args->threads, "Quantizer threads (default: all)");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
