#pragma once
// Options declared once, with their help text, shared by run, bench and later serve.
#include <CLI/CLI.hpp>

#include "strata/engine.h"

namespace strata::cli {

// -m, --tokenizer, -t, -c, -b.
void add_engine_options(CLI::App& app, EngineOptions* opts);
// -p, -f, -n, --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed,
// --ignore-eos, --special.
struct PromptOptions {
  std::string prompt_file;
  bool seed_given = false;
};
void add_generate_options(CLI::App& app, GenerateOptions* opts, PromptOptions* prompt);
// Resolves -f and a default seed; logs the seed it chose.
Status finish_generate_options(GenerateOptions* opts, const PromptOptions& prompt);

// Placement: --gpu-layers, --offload-to, --prefetch, --ram-budget, --vram-budget, --keep,
// --expert-cache, --no-stream-experts, --device, --sim-*, --pack, --verify, --io-engine,
// --no-direct-io. Values are kept as text
// so bench can accept comma lists of the same options.
struct PlacementText {
  std::string gpu_layers = "auto";
  std::string offload_to = "auto";
  std::string prefetch = "auto";
  std::string ram_budget, vram_budget, sim_vram;
  std::string keep = "spread";
  std::string expert_cache = "auto";
};
void add_placement_options(CLI::App& app, PlacementOptions* opts, PlacementText* text);
// Parses one value of each text option into `opts`.
Status parse_placement(const PlacementText& text, PlacementOptions* opts);
// Splits "16,12,8" into its parts.
std::vector<std::string> split_list(const std::string& text);

}  // namespace strata::cli
