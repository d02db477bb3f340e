#pragma once
// strata's public API: open a model, generate text.
//
//   auto engine = strata::Engine::open({.model_path = "model.gguf"});
//   engine.value()->generate(gen_opts, [](std::string_view text) { fwrite(...); }, &stats);

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/sampler.h"
#include "store/placement.h"
#include "store/streaming_store.h"

namespace strata {

class Tokenizer;
class Transformer;
class Device;
class StreamingStore;
class ThreadPool;
struct ModelSource;

struct EngineOptions {
  std::string model_path;      // "" = the bundled stories260K (kBundledModel, in the data folder)
  std::string tokenizer_path;  // override; "" = the model's own
  int n_threads = 0;           // 0 = all hardware threads
  int64_t n_ctx = 0;           // 0 = min(training context, 4096)
  int64_t n_batch = 512;       // most prompt tokens per forward pass
  PlacementOptions placement;  // tiers, prefetch, budgets, device
};

// What one forward pass (a prefill batch or one decoded token) cost.
struct TokenTrace {
  bool prefill = false;
  int64_t n_tokens = 0;
  double wall_s = 0;           // the whole forward pass
  double compute_s = 0;        // wall_s - stall_s: layers, embedding and output head
  std::vector<double> layer_compute_s;  // each layer's compute time, [n_layer]
  double stall_s = 0;          // time compute waited for streamed layers
  double transfer_s = 0;       // sum of the streamed loads' I/O + copy time
  uint64_t bytes_streamed = 0; // the streamed layers' tensor bytes
  std::vector<LayerLoad> loads;
};

struct GenerateOptions {
  std::string prompt;
  std::vector<int32_t> prompt_tokens;  // when non-empty, used instead of encoding `prompt`
  int64_t n_predict = 128;     // new tokens; -1 = until EOS or the context is full
  SamplerOptions sampling;
  bool ignore_eos = false;
  bool parse_special = false;  // "<|begin_of_text|>" in the prompt becomes its token
  // Called with every logit row computed: the prompt's positions, then each new token's.
  std::function<void(const float* logits, int64_t n_vocab)> on_logits;
  // Called after every forward pass with its measurements (for --verbose-layers).
  std::function<void(const TokenTrace&)> on_trace;
  // Called once the prompt is tokenized and known to fit the context, before any forward
  // pass: a frontend echoes the prompt here, so a rejected prompt is never echoed.
  std::function<void(const std::vector<int32_t>& prompt_tokens)> on_prompt;
};

// Checks the values a user can get wrong: n_predict >= -1; finite temperature >= 0; top_k
// >= 0; top_p and min_p in [0, 1]; finite repeat_penalty > 0; repeat_last_n >= 0. An error
// naming the option (its CLI spelling) and the value. generate() calls it first.
[[nodiscard]] Status check_generate_options(const GenerateOptions& opts);

struct GenerateStats {
  int64_t n_prompt_tokens = 0;
  int64_t n_generated = 0;
  double prefill_s = 0;
  double decode_s = 0;
  double ttft_s = 0;           // prompt processing + first sampled token
  std::vector<int32_t> tokens; // prompt then generated ids
  std::vector<TokenTrace> traces;  // one per forward pass: prefill batches, then decode steps
};

// Owns the model, tokenizer, weights and thread pool. One generation at a time.
class Engine {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Engine>> open(const EngineOptions& opts);
  ~Engine();

  const ModelSource& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const StreamingStore& store() const { return *store_; }
  const Device& device() const { return *device_; }
  int n_threads() const;
  int64_t n_ctx() const { return n_ctx_; }
  double load_s() const { return load_s_; }

  // Streams the generated text (valid UTF-8 pieces) to `on_text`. The prompt itself is not
  // echoed. Stops after n_predict tokens, at end-of-generation unless ignore_eos, or when the
  // context is full.
  Status generate(const GenerateOptions& opts, const std::function<void(std::string_view)>& on_text,
                  GenerateStats* stats);

 private:
  Engine() = default;
  std::unique_ptr<ModelSource> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  Status forward(std::span<const int32_t> tokens, int64_t pos, float* logits, bool all_logits,
                 bool prefill, GenerateStats* st, const GenerateOptions& opts);
  std::unique_ptr<Device> device_;
  std::unique_ptr<StreamingStore> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Transformer> transformer_;
  int64_t n_ctx_ = 0, n_batch_ = 512;
  double load_s_ = 0;
};

// Streaming figures of a generation, over its decode steps (prefill batches excluded).
struct StreamSummary {
  int64_t n_decode_steps = 0;
  double wall_s = 0;                 // sum of the decode forward passes
  double compute_s = 0;              // sum of the steps' compute (wall - stall)
  double stall_s = 0;                // compute waiting for streamed layers
  double transfer_s = 0;             // time the load pipeline was busy (union of loads)
  uint64_t bytes_streamed = 0;
  double bytes_per_token = 0;
  double stream_gbps = 0;            // bytes_streamed / transfer_s, 1e9 bytes per GB
  double stall_fraction = 0;         // stall_s / wall_s
  double overlap_efficiency = 0;     // max(compute_s, transfer_s) / wall_s
  std::vector<int64_t> streamed_layers;
  std::vector<double> per_layer_load_s;  // median (ready - start) per streamed layer
};
StreamSummary summarize_stream(const GenerateStats& stats);

// Peak resident set size of this process, measured (VmHWM), in bytes.
uint64_t peak_rss_bytes();
// Resident set size now (VmRSS), in bytes.
uint64_t current_rss_bytes();

}  // namespace strata
