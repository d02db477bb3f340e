#pragma once
// A Session's private state, shared by session.cpp (begin, sampling, text) and
// model.cpp (Model::step, which feeds many sessions in one pass).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/timer.h"
#include "runtime/kv_cache.h"
#include "runtime/sampler.h"
#include "strata/engine.h"
#include "tokenizer/tokenizer.h"

namespace strata {

struct Session::State {
  explicit State(std::unique_ptr<KvCache> cache);

  std::unique_ptr<KvCache> kv;
  std::vector<int32_t> cached;  // ids in the KV cache, positions 0..n-1
  bool active = false;
  GenerateOptions opts;
  TextCallback on_text;
  GenerateStats stats;
  std::optional<Sampler> sampler;
  std::optional<StreamDecoder> decoder;
  std::vector<int32_t> prompt;  // the whole prompt of this generation
  size_t prompt_fed = 0;        // prompt tokens in the cache
  int32_t next_token = -1;      // sampled, not yet in the cache (decode)
  std::vector<float> logits;    // [rows, n_vocab] of the last pass
  std::string held;             // text that may begin a stop string
  double t_begin = 0, t_prompt_done = 0;

  // Tokens this pass should feed (the next prompt chunk of at most `budget`, or
  // the decode token); empty when there is nothing to do.
  std::span<const int32_t> pending(int64_t budget) const;
  // After a pass fed `n` tokens: record them, sample when the prompt is done,
  // emit text.
  void after_pass(const Model& m, int64_t n, const TokenTrace& trace);
  void finish(FinishReason why);

 private:
  bool emit(std::string_view text);  // false when the generation ended (stop or cancel)
  bool flush_held();
};

}  // namespace strata
