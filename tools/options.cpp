#include "tools/options.h"

#include <cstdlib>
#include <random>

#include "core/file.h"
#include "core/log.h"
#include "store/placement.h"
#include "tools/commands.h"

namespace strata::cli {

void add_engine_options(CLI::App& app, EngineOptions* o) {
  app.add_option("-m,--model", o->model_path,
                 "Model: a GGUF file, a Hugging Face directory (config.json + safetensors) or a "
                 "llama2.c .bin checkpoint (default: the bundled stories260K)")
      ->check(non_empty_path());
  app.add_option(
         "--tokenizer", o->tokenizer_path,
         "Tokenizer override: tokenizer.json, a GGUF vocabulary or a llama2.c tokenizer .bin")
      ->check(non_empty_path());
  app.add_option("-t,--threads", o->n_threads, "Compute threads (default: all hardware threads)");
  app.add_option("-c,--ctx-size", o->n_ctx,
                 "Context length in tokens (default: the model's training context, at most 4096; "
                 "less when --ram-budget needs it)");
  app.add_option("-b,--batch-size", o->n_batch,
                 "Most prompt tokens per forward pass (default: 512, fewer when --ram-budget "
                 "needs it)")
      ->check(CLI::Validator(
          [](const std::string& v) {
            return std::strtoll(v.c_str(), nullptr, 10) >= 1 ? std::string()
                                                             : "-b must be >= 1, got " + v;
          },
          "N"));
  app.add_option("--kv-type", o->kv_type,
                 "Attention cache type: f16 (default), f32, or q8_0 (head_dim a multiple of 32)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, KvType>{
              {"f16", KvType::kF16}, {"f32", KvType::kF32}, {"q8_0", KvType::kQ8_0}},
          CLI::ignore_case));
  app.add_option("--kv-placement", o->kv_placement,
                 "Where KV caches live: ram, disk (a file in --kv-dir, one layer at a time in RAM, "
                 "read ahead), or auto: disk only when the cache does not fit --ram-budget")
      ->check(CLI::IsMember({"auto", "ram", "disk"}))
      ->capture_default_str();
  app.add_option("--kv-dir", o->kv_dir,
                 "Directory of KV caches on disk (an unnamed file, gone at exit; default "
                 "$STRATA_KV_DIR, $TMPDIR or /var/tmp)");
}

void add_generate_options(CLI::App& app, GenerateOptions* g, PromptOptions* p) {
  app.add_option("-p,--prompt", g->prompt, "Prompt text");
  app.add_option("-f,--file", p->prompt_file, "Read the prompt from a file");
  app.add_option("-n,--n-predict", g->n_predict, "New tokens to generate (-1: until EOS)")
      ->capture_default_str();
  app.add_option("--temp", g->sampling.temperature, "Temperature (0 = greedy)")
      ->capture_default_str();
  app.add_option("--top-k", g->sampling.top_k, "Top-k sampling (0 = off)")->capture_default_str();
  app.add_option("--top-p", g->sampling.top_p, "Top-p (nucleus) sampling (1 = off)")
      ->capture_default_str();
  app.add_option("--min-p", g->sampling.min_p, "Min-p sampling (0 = off)")->capture_default_str();
  app.add_option("--repeat-penalty", g->sampling.repeat_penalty, "Repetition penalty (1 = off)")
      ->capture_default_str();
  app.add_option("--repeat-last-n", g->sampling.repeat_last_n, "Tokens the penalty looks back")
      ->capture_default_str();
  app.add_option("-s,--seed", g->sampling.seed, "Random seed (default: random, printed)")
      ->each([p](const std::string&) { p->seed_given = true; });
  app.add_flag("--ignore-eos", g->ignore_eos, "Keep generating after end-of-generation tokens");
  app.add_flag("--special", g->parse_special,
               "Parse special-token text such as <|begin_of_text|> in the prompt");
}

Status finish_generate_options(GenerateOptions* g, const PromptOptions& p) {
  if (!p.prompt_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(g->prompt, read_file_to_string(p.prompt_file, 64 << 20));
  }
  if (!p.seed_given) {
    g->sampling.seed = std::random_device{}();
  }
  return check_generate_options(*g);
}

void add_placement_options(CLI::App& app, PlacementOptions* o, PlacementText* t) {
  app.add_option("--gpu-layers,--ngl,--n-gpu-layers", t->gpu_layers,
                 "Layers resident on the compute device (llama.cpp's -ngl; on the CPU backend its "
                 "memory is RAM). auto: as many as fit --ram-budget/--vram-budget, all if unset")
      ->capture_default_str();
  app.add_option("--offload-to", t->offload_to,
                 "Home of the other layers: ram or disk. auto: disk on the CPU backend, ram on a "
                 "device with its own memory")
      ->capture_default_str();
  app.add_option("--prefetch", t->prefetch,
                 "Streamed layers loaded ahead: 0 = synchronous, 1 = double buffering, ...; auto: "
                 "1, or 0 when a second slot does not fit --ram-budget")
      ->capture_default_str();
  app.add_option("--ram-budget", t->ram_budget,
                 "Most host RAM for weights, slots, KV cache (e.g. 2G)");
  app.add_option("--vram-budget", t->vram_budget, "Most device memory for weights and slots");
  app.add_option("--keep", t->keep,
                 "Which layers stay resident: spread (default: streamed layers evenly between "
                 "resident ones, so loads overlap compute), first, or first-last")
      ->capture_default_str();
  app.add_option("--expert-cache", t->expert_cache,
                 "Mixture-of-experts models streamed from disk: bytes of the cache of experts read "
                 "on demand (e.g. 2G). auto: what --ram-budget leaves, else as much as "
                 "whole-layer slots would take")
      ->capture_default_str();
  app.add_option("--output-head", o->output_head,
                 "The output head: resident, stream (from disk in row chunks; the embedding's rows "
                 "read as tokens need them), or auto: streamed only when nothing fits otherwise")
      ->capture_default_str();
  app.add_flag("--expert-prefetch", o->expert_prefetch,
               "Mixture-of-experts models streamed expert by expert: also read the next layer's "
               "likely experts ahead of routing (more bytes; off: only the experts routing chose)");
  app.add_flag("!--no-stream-experts", o->stream_experts,
               "Stream a mixture-of-experts model's layers whole instead of expert by expert");
  app.add_option("--device", o->device, "Compute device: cpu, or sim (a simulated accelerator)")
      ->capture_default_str();
  app.add_option("--sim-vram", t->sim_vram, "Simulated device memory (e.g. 1G; default unlimited)");
  app.add_option("--sim-bandwidth", o->sim.bandwidth_gbps,
                 "Simulated host-to-device GB/s (0 = unlimited)");
  app.add_option("--sim-latency-us", o->sim.latency_us, "Simulated latency per copy, microseconds");
  app.add_option("--pack", o->pack_dir, "Stream from this layer pack (strata convert --pack)");
  app.add_flag("!--no-auto-pack", o->auto_pack,
               "Do not write a layer pack to the cache when the file's layers are scattered");
  app.add_flag("--verify", o->verify, "Verify layer-pack checksums on every streamed read");
  app.add_option("--io-engine", o->io.engine, "Disk reads: auto, uring or pread")
      ->capture_default_str();
  app.add_flag("!--no-direct-io", o->io.direct, "Read through the page cache instead of O_DIRECT");
}

Status parse_placement(const PlacementText& t, PlacementOptions* o) {
  if (t.gpu_layers == "auto") {
    o->gpu_layers = -1;
  } else {
    char* end = nullptr;
    long v = std::strtol(t.gpu_layers.c_str(), &end, 10);
    if (t.gpu_layers.empty() || *end || v < 0) {
      return Status::errorf("--gpu-layers must be a number or auto, got '{}'", t.gpu_layers);
    }
    o->gpu_layers = v;
  }
  o->offload_to = t.offload_to;
  if (t.prefetch == "auto") {
    o->prefetch = -1;
  } else {
    char* end = nullptr;
    long v = std::strtol(t.prefetch.c_str(), &end, 10);
    if (t.prefetch.empty() || *end || v < 0 || v > 16) {
      return Status::errorf("--prefetch must be 0..16 or auto, got '{}'", t.prefetch);
    }
    o->prefetch = static_cast<int>(v);
  }
  if (!t.ram_budget.empty()) {
    STRATA_ASSIGN_OR_RETURN(o->ram_budget_bytes, parse_bytes(t.ram_budget));
  }
  if (!t.vram_budget.empty()) {
    STRATA_ASSIGN_OR_RETURN(o->vram_budget_bytes, parse_bytes(t.vram_budget));
  }
  if (!t.sim_vram.empty()) {
    STRATA_ASSIGN_OR_RETURN(o->sim.capacity_bytes, parse_bytes(t.sim_vram));
  }
  if (t.expert_cache == "auto") {
    o->expert_cache_bytes = 0;
  } else {
    STRATA_ASSIGN_OR_RETURN(o->expert_cache_bytes, parse_bytes(t.expert_cache));
    if (o->expert_cache_bytes == 0)
      return Status::error("--expert-cache must be a size above 0, or auto");
  }
  if (t.keep == "first")
    o->keep = ResidentPolicy::kFirst;
  else if (t.keep == "first-last")
    o->keep = ResidentPolicy::kFirstLast;
  else if (t.keep == "spread")
    o->keep = ResidentPolicy::kSpread;
  else
    return Status::errorf("--keep must be first, first-last or spread, got '{}'", t.keep);
  return Status::ok();
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  for (;;) {
    size_t comma = text.find(',', at);
    out.push_back(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

}  // namespace strata::cli
