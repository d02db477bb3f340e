// Session: one conversation's generation state machine. Model::step() feeds it;
// this file decides what to feed, samples, and turns tokens into text (stop
// strings, cancellation).

#include <algorithm>
#include <cstring>

#include "model/model_source.h"
#include "runtime/session_state.h"

namespace strata {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kEndOfGeneration:
      return "eog";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kContextFull:
      return "context";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

Session::State::State(std::unique_ptr<KvCache> cache) : kv(std::move(cache)) {}

Session::Session(std::shared_ptr<Model> model, std::unique_ptr<State> state)
    : model_(std::move(model)), st_(std::move(state)) {}

Session::~Session() {
  std::lock_guard lock(model_->live_mu_);
  --model_->n_live_;
}

bool Session::active() const { return st_->active; }
const GenerateStats& Session::stats() const { return st_->stats; }
const std::vector<int32_t>& Session::cached_tokens() const { return st_->cached; }

void Session::cancel() { st_->finish(FinishReason::kCancelled); }

void Session::reset() {
  st_->active = false;
  st_->cached.clear();
}

Status Session::begin(const GenerateOptions& opts, TextCallback on_text) {
  STRATA_TRY(check_generate_options(opts));
  State& s = *st_;
  const Tokenizer& tok = model_->tokenizer();
  std::vector<int32_t> prompt =
      opts.prompt_tokens.empty()
          ? tok.encode(opts.prompt, tok.special().add_bos, opts.parse_special)
          : opts.prompt_tokens;
  if (prompt.empty()) {
    if (tok.special().bos < 0)
      return Status::error("empty prompt and the vocabulary has no BOS token");
    prompt.push_back(tok.special().bos);
  }
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt >= model_->n_ctx()) {
    return Status::errorf("prompt of {} tokens does not fit the context of {} (use -c)", n_prompt,
                          model_->n_ctx());
  }
  for (const std::string& stop : opts.stop) {
    if (stop.empty()) return Status::error("a stop string must not be empty");
  }
  // Keep the cached prefix, but feed at least the last prompt token: its logits
  // start the generation.
  size_t reuse = 0;
  if (opts.reuse_cache) {
    const size_t limit = std::min(s.cached.size(), prompt.size() - 1);
    while (reuse < limit && s.cached[reuse] == prompt[reuse]) ++reuse;
  }
  s.cached.resize(reuse);
  s.opts = opts;
  s.on_text = std::move(on_text);
  s.stats = GenerateStats{};
  s.stats.n_prompt_tokens = n_prompt;
  s.stats.n_cached_tokens = static_cast<int64_t>(reuse);
  s.stats.tokens = prompt;
  s.sampler.emplace(opts.sampling);
  for (int32_t t : prompt) s.sampler->accept(t);
  s.decoder.emplace(tok, prompt.back());
  s.prompt = std::move(prompt);
  s.prompt_fed = reuse;
  s.next_token = -1;
  s.held.clear();
  s.t_begin = now_seconds();
  s.t_prompt_done = 0;
  s.active = true;
  if (opts.on_prompt) opts.on_prompt(s.prompt);
  return Status::ok();
}

Status Session::generate(const GenerateOptions& opts, const TextCallback& on_text,
                         GenerateStats* stats) {
  Status status = begin(opts, on_text);
  Session* self = this;
  while (status.is_ok() && active()) status = model_->step({&self, 1});
  if (!status.is_ok()) st_->active = false;
  if (stats) *stats = st_->stats;
  return status;
}

std::span<const int32_t> Session::State::pending(int64_t budget) const {
  if (!active || budget <= 0) return {};
  if (prompt_fed < prompt.size()) {
    const size_t n = std::min(prompt.size() - prompt_fed, static_cast<size_t>(budget));
    return {prompt.data() + prompt_fed, n};
  }
  return {&next_token, 1};
}

bool Session::State::flush_held() {
  if (held.empty()) return true;
  std::string text;
  text.swap(held);
  if (!on_text(text)) {
    finish(FinishReason::kCancelled);
    return false;
  }
  return true;
}

bool Session::State::emit(std::string_view piece) {
  if (opts.stop.empty()) {
    if (!piece.empty() && !on_text(piece)) {
      finish(FinishReason::kCancelled);
      return false;
    }
    return true;
  }
  const size_t searched = held.size();
  held.append(piece);
  // A stop string completed by this piece: emit what precedes it and end.
  size_t first = std::string::npos;
  for (const std::string& stop : opts.stop) {
    const size_t from = searched >= stop.size() ? searched - stop.size() + 1 : 0;
    const size_t at = held.find(stop, from);
    if (at != std::string::npos) first = std::min(first, at);
  }
  if (first != std::string::npos) {
    held.resize(first);
    if (flush_held()) finish(FinishReason::kStop);
    return false;
  }
  // Hold back the longest tail that could still grow into a stop string.
  size_t keep = 0;
  for (const std::string& stop : opts.stop) {
    for (size_t k = std::min(stop.size() - 1, held.size()); k > keep; --k) {
      if (held.compare(held.size() - k, k, stop, 0, k) == 0) {
        keep = k;
        break;
      }
    }
  }
  if (held.size() > keep) {
    std::string text = held.substr(0, held.size() - keep);
    held.erase(0, held.size() - keep);
    if (!on_text(text)) {
      finish(FinishReason::kCancelled);
      return false;
    }
  }
  return true;
}

void Session::State::finish(FinishReason why) {
  if (!active) return;
  active = false;  // before any callback, so a cancelling callback ends it once
  if (why != FinishReason::kStop && why != FinishReason::kCancelled) {
    if (decoder) held.append(decoder->flush());
    if (!held.empty()) {
      std::string text;
      text.swap(held);
      if (!on_text(text)) why = FinishReason::kCancelled;
    }
  }
  stats.finish = why;
  const double t = now_seconds();
  if (t_prompt_done == 0) {
    stats.prefill_s = t - t_begin;
  } else {
    stats.decode_s = t - t_prompt_done;
  }
}

void Session::State::after_pass(const Model& m, int64_t n, const TokenTrace& trace) {
  if (stats.traces.size() < opts.max_traces) {
    stats.traces.push_back(trace);
  } else {
    ++stats.n_traces_dropped;
  }
  const int64_t V = m.source().config.n_vocab;
  if (prompt_fed < prompt.size()) {
    cached.insert(cached.end(), prompt.begin() + prompt_fed, prompt.begin() + prompt_fed + n);
    prompt_fed += n;
    if (opts.on_logits) {
      for (int64_t t = 0; t < n; ++t) opts.on_logits(logits.data() + t * V, V);
      std::memmove(logits.data(), logits.data() + (n - 1) * V, V * sizeof(float));
    }
    if (prompt_fed < prompt.size()) return;  // more prompt chunks to come
    t_prompt_done = now_seconds();
    stats.prefill_s = t_prompt_done - t_begin;
  } else {
    cached.push_back(next_token);
    if (opts.on_logits) opts.on_logits(logits.data(), V);
  }
  // The logits of the last fed token: sample the next one.
  if (opts.n_predict >= 0 && stats.n_generated >= opts.n_predict)
    return finish(FinishReason::kLength);
  const int32_t next = sampler->sample(logits.data(), V);
  if (stats.n_generated == 0) stats.ttft_s = now_seconds() - t_begin;
  const Tokenizer& tok = m.tokenizer();
  if (tok.is_eog(next) && !opts.ignore_eos) return finish(FinishReason::kEndOfGeneration);
  sampler->accept(next);
  stats.tokens.push_back(next);
  ++stats.n_generated;
  if (!emit(decoder->push(next))) return;
  if (opts.n_predict >= 0 && stats.n_generated >= opts.n_predict)
    return finish(FinishReason::kLength);
  if (static_cast<int64_t>(cached.size()) >= m.n_ctx()) return finish(FinishReason::kContextFull);
  next_token = next;
}

}  // namespace strata
