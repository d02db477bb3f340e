#include "strata/engine.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "backend/cpu/thread_pool.h"
#include "core/timer.h"
#include "model/model_source.h"
#include "runtime/transformer.h"
#include "store/weight_store.h"
#include "tokenizer/tokenizer.h"

namespace strata {

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& opts) {
  Stopwatch sw;
  std::unique_ptr<Engine> e(new Engine());
  STRATA_ASSIGN_OR_RETURN(ModelSource m, open_model(opts.model_path));
  e->model_ = std::make_unique<ModelSource>(std::move(m));
  STRATA_ASSIGN_OR_RETURN(e->tokenizer_, open_tokenizer(*e->model_, opts.tokenizer_path));
  if (e->tokenizer_->n_vocab() > e->model_->config.n_vocab) {
    return Status::errorf("{}: tokenizer has {} tokens but the model's vocabulary is {}",
                          opts.model_path, e->tokenizer_->n_vocab(), e->model_->config.n_vocab);
  }
  const ModelConfig& c = e->model_->config;
  e->n_ctx_ = opts.n_ctx > 0 ? opts.n_ctx : std::min<int64_t>(c.n_ctx_train, 4096);
  if (e->n_ctx_ > (1 << 20)) return Status::errorf("context of {} is too large", e->n_ctx_);
  e->n_batch_ = std::clamp<int64_t>(opts.n_batch, 1, e->n_ctx_);
  int threads = opts.n_threads > 0 ? opts.n_threads
                                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  e->pool_ = std::make_unique<ThreadPool>(threads);
  STRATA_ASSIGN_OR_RETURN(e->store_, make_resident_store(*e->model_));
  e->transformer_ = std::make_unique<Transformer>(c, *e->store_, *e->pool_, e->n_ctx_, e->n_batch_);
  e->load_s_ = sw.elapsed_s();
  return e;
}

Status Engine::generate(const GenerateOptions& opts,
                        const std::function<void(std::string_view)>& on_text,
                        GenerateStats* stats) {
  GenerateStats local;
  GenerateStats& st = stats ? *stats : local;
  st = GenerateStats{};
  const Tokenizer& tok = *tokenizer_;
  std::vector<int32_t> prompt = tok.encode(opts.prompt, tok.special().add_bos, opts.parse_special);
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
  const int64_t V = model_->config.n_vocab;
  Sampler sampler(opts.sampling);
  for (int32_t t : prompt) sampler.accept(t);

  std::vector<float> logits;
  Stopwatch sw;
  for (int64_t at = 0; at < n_prompt; at += n_batch_) {
    const int64_t n = std::min(n_batch_, n_prompt - at);
    const bool all = static_cast<bool>(opts.on_logits);
    logits.resize((all ? n : 1) * V);
    STRATA_TRY(transformer_->forward({prompt.data() + at, static_cast<size_t>(n)}, at,
                                     logits.data(), all));
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
    STRATA_TRY(transformer_->forward({&next, 1}, pos, logits.data(), false));
    if (opts.on_logits) opts.on_logits(logits.data(), V);
    ++pos;
  }
  std::string rest = decoder.flush();
  if (!rest.empty()) on_text(rest);
  st.decode_s = decode_sw.elapsed_s();
  return Status::ok();
}

uint64_t peak_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) {
      std::sscanf(line + 6, "%lu", &kb);
      break;
    }
  }
  std::fclose(f);
  return kb * 1024;
}

}  // namespace strata
