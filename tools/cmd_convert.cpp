// strata convert: writes a model's layer pack (store/layer_pack.h), the streaming-friendly
// copy of its weights.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/timer.h"
#include "model/model_source.h"
#include "store/layer_pack.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace strata::cli {

namespace {

struct ConvertArgs {
  std::string model;
  std::string pack_dir;
  std::string tokenizer;
};

std::string human_bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", b / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", b / double(1ull << 10));
  return fmt::format("{} B", b);
}

int convert_main(const ConvertArgs& a) {
  auto model = open_model(a.model);
  if (!model) return fail(model.status());
  if (!a.tokenizer.empty()) {  // the pack holds weights only: check the tokenizer up front
    auto tok = open_tokenizer(*model, a.tokenizer);
    if (!tok) return fail(tok.status());
  }
  ProgressLine bar("convert");
  Stopwatch clock;
  Status s = write_layer_pack(*model, a.pack_dir,
                              [&](uint64_t done, uint64_t total) { bar.update(done, total); });
  bar.finish(s.is_ok());
  if (!s) return fail(s);
  const double seconds = clock.elapsed_s();
  // Reopening checks the manifest just written against the model, as every later run will.
  auto pack = open_layer_pack(a.pack_dir, *model);
  if (!pack) return fail(pack.status());

  uint64_t min_b = UINT64_MAX, max_b = 0, sum_b = 0;
  for (const PackRegion& r : pack->layers) {
    min_b = std::min(min_b, r.nbytes);
    max_b = std::max(max_b, r.nbytes);
    sum_b += r.nbytes;
  }
  std::printf("wrote layer pack %s (pack.bin + manifest.json) from %s in %.2f s\n",
              pack->dir.c_str(), model->path.c_str(), seconds);
  std::printf("  globals       %s (%s)\n", human_bytes(pack->globals.nbytes).c_str(),
              fmt::format("xxh64 {:016x}", pack->globals.xxh64).c_str());
  if (!pack->layers.empty()) {
    std::printf("  layers        %zu x %s", pack->layers.size(),
                human_bytes(sum_b / pack->layers.size()).c_str());
    if (min_b != max_b) {
      std::printf(" (min %s, max %s)", human_bytes(min_b).c_str(), human_bytes(max_b).c_str());
    }
    std::printf(", %s in all\n", human_bytes(sum_b).c_str());
  }
  std::printf("  bytes/layer  ");
  for (size_t l = 0; l < pack->layers.size(); ++l) {
    if (l >= 8 && l + 1 < pack->layers.size()) {
      if (l == 8) std::printf(" ...");
      continue;
    }
    std::printf(" %s", human_bytes(pack->layers[l].nbytes).c_str());
  }
  std::printf("\n");
  return 0;
}

}  // namespace

Command convert_command() {
  auto args = std::make_shared<ConvertArgs>();
  Command c;
  c.run = [args] { return convert_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "convert", "Write a layer pack: each layer's weights contiguous and aligned for streaming");
    sub->add_option("model", args->model, "GGUF file, Hugging Face directory or llama2.c .bin")
        ->required();
    sub->add_option("--pack", args->pack_dir, "Directory to write pack.bin and manifest.json to")
        ->required();
    sub->add_option("--tokenizer", args->tokenizer,
                    "Tokenizer override (llama2.c models), checked before converting");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
