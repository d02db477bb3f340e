#pragma once
// strata's public API: open a model, generate text.
//
//   auto engine = strata::Engine::open({.model_path = "model.gguf"});
//   engine.value()->generate(gen_opts, [](std::string_view text) { fwrite(...); }, &stats);

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/sampler.h"

namespace strata {

class Tokenizer;
class Transformer;
class WeightStore;
class ThreadPool;
struct ModelSource;

struct EngineOptions {
  std::string model_path;
  std::string tokenizer_path;  // override; "" = the model's own
  int n_threads = 0;           // 0 = all hardware threads
  int64_t n_ctx = 0;           // 0 = min(training context, 4096)
  int64_t n_batch = 512;       // most prompt tokens per forward pass
};

struct GenerateOptions {
  std::string prompt;
  int64_t n_predict = 128;     // new tokens; -1 = until EOS or the context is full
  SamplerOptions sampling;
  bool ignore_eos = false;
  bool parse_special = false;  // "<|begin_of_text|>" in the prompt becomes its token
  // Called with every logit row computed: the prompt's positions, then each new token's.
  std::function<void(const float* logits, int64_t n_vocab)> on_logits;
};

struct GenerateStats {
  int64_t n_prompt_tokens = 0;
  int64_t n_generated = 0;
  double prefill_s = 0;
  double decode_s = 0;
  double ttft_s = 0;           // prompt processing + first sampled token
  std::vector<int32_t> tokens; // prompt then generated ids
};

// Owns the model, tokenizer, weights and thread pool. One generation at a time.
class Engine {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Engine>> open(const EngineOptions& opts);
  ~Engine();

  const ModelSource& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
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
  std::unique_ptr<WeightStore> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Transformer> transformer_;
  int64_t n_ctx_ = 0, n_batch_ = 512;
  double load_s_ = 0;
};

// Peak resident set size of this process, measured (VmHWM), in bytes.
uint64_t peak_rss_bytes();

}  // namespace strata
