#pragma once
// strata's public API: open a model once, talk to it through sessions.
//
//   auto model = strata::Model::open({.model_path = "model.gguf"});
//   auto session = model.value()->new_session();
//   session.value()->generate(gen_opts, [](std::string_view text) { fwrite(...); return true; });
//
// A Session owns a conversation's KV cache, so each turn prefills only its new tokens; many
// sessions share one Model, and Model::step() advances several of them in one forward pass
// (each streamed layer is loaded once for all of them). Engine is a Model with one Session.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/options.h"
#include "strata/status.h"

namespace strata {

class Tokenizer;
class Transformer;
class Device;
class StreamingStore;
class ThreadPool;
class KvCache;
struct ModelSource;
class Session;

struct ModelOptions {
  std::string model_path;      // "" = the bundled stories260K (kBundledModel, in the data folder)
  std::string tokenizer_path;  // override; "" = the model's own
  int n_threads = 0;           // 0 = all hardware threads
  int64_t n_ctx = 0;           // 0 = min(training context, 4096), or less when
                               // --ram-budget needs it
  int64_t n_batch = 0;         // most prompt tokens per forward pass; 0 = 512, or fewer
                               // when --ram-budget needs it
  PlacementOptions placement;  // tiers, prefetch, budgets, device
  int n_seq = 1;               // sessions alive at once; --ram-budget counts a KV cache each
  KvType kv_type = KvType::kF16;  // the attention cache's element type
  // Where the sessions' KV caches live: ram, disk (an unnamed file in kv_dir, one layer's
  // window at a time in RAM, read ahead layer by layer), or auto: disk only when the cache
  // does not fit --ram-budget at the context asked for (or, -c unset, at 256 positions).
  std::string kv_placement = "auto";
  std::string kv_dir;  // "" = $STRATA_KV_DIR, else $TMPDIR, else /var/tmp
};
using EngineOptions = ModelOptions;

// What one forward pass (a prefill batch or one decoded token) cost.
struct TokenTrace {
  bool prefill = false;
  int64_t n_tokens = 0;
  double wall_s = 0;                    // the whole forward pass
  double compute_s = 0;                 // wall_s - stall_s: layers, embedding and output head
  std::vector<double> layer_compute_s;  // each layer's compute time, [n_layer]
  double stall_s = 0;                   // time compute waited for streamed layers
  double transfer_s = 0;                // sum of the streamed loads' I/O + copy time
  uint64_t bytes_streamed = 0;          // the streamed layers' (and experts') tensor bytes
  uint64_t kv_bytes_read = 0;           // KV cache on disk: bytes read and written back
  uint64_t kv_bytes_written = 0;
  std::vector<LayerLoad> loads;
  int64_t expert_lookups = 0;        // experts routing chose in layers whose experts stream
  int64_t expert_hits = 0;           // of those, in the cache from an earlier use: no read
  int64_t expert_prefetch_hits = 0;  // of those, read ahead on a guess (bytes moved, no stall)
  int64_t expert_prefetched = 0;     // experts loaded ahead of routing, on a guess
};

struct GenerateOptions {
  std::string prompt;
  std::vector<int32_t> prompt_tokens;  // when non-empty, used instead of encoding `prompt`
  int64_t n_predict = 128;             // new tokens; -1 = until EOS or the context is full
  SamplerOptions sampling;
  bool ignore_eos = false;
  // Generation ends when the text contains one of these; the text from the stop string on is
  // not emitted. Pieces that could begin a stop string are held back until decided.
  std::vector<std::string> stop;
  // Reuse the session's KV cache for the longest common prefix of the new prompt and the
  // tokens already in the cache (turn N of a chat prefills only its new tokens).
  bool reuse_cache = true;
  // GenerateStats::traces keeps at most this many forward passes (the first ones); the rest
  // are counted in n_traces_dropped. on_trace still sees every pass.
  size_t max_traces = 4096;
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

// Why a generation ended.
enum class FinishReason { kNone, kLength, kEndOfGeneration, kStop, kContextFull, kCancelled };
// "none", "length", "eog", "stop", "context", "cancelled".
const char* finish_reason_name(FinishReason r);

struct GenerateStats {
  int64_t n_prompt_tokens = 0;
  int64_t n_cached_tokens = 0;  // prompt tokens whose KV came from the session's cache
  int64_t n_generated = 0;
  double prefill_s = 0;
  double decode_s = 0;
  double ttft_s = 0;               // prompt processing + first sampled token
  std::vector<int32_t> tokens;     // prompt then generated ids
  std::vector<TokenTrace> traces;  // one per forward pass: prefill batches, then decode steps
  int64_t n_traces_dropped = 0;    // passes beyond GenerateOptions::max_traces
  FinishReason finish = FinishReason::kNone;
};

// Receives generated text in valid UTF-8 pieces; returning false stops the generation
// (FinishReason::kCancelled).
using TextCallback = std::function<bool(std::string_view)>;

// The weights, tokenizer, store and thread pool, opened once and shared by sessions.
// Thread-safe: step() serializes forward passes; new_session() may be called from any
// thread. Sessions keep the Model alive.
class Model : public std::enable_shared_from_this<Model> {
 public:
  [[nodiscard]] static Result<std::shared_ptr<Model>> open(const ModelOptions& opts);
  ~Model();

  const ModelSource& source() const { return *source_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const StreamingStore& store() const { return *store_; }
  const Device& device() const { return *device_; }
  int n_threads() const;
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_batch() const { return n_batch_; }
  int n_seq() const { return n_seq_; }
  KvType kv_type() const { return kv_type_; }
  bool kv_on_disk() const { return !kv_dir_.empty(); }
  const std::string& kv_dir() const { return kv_dir_; }  // "" when the caches are in RAM
  double load_s() const { return load_s_; }

  // A new conversation with an empty KV cache. An error when n_seq sessions are alive.
  [[nodiscard]] Result<std::unique_ptr<Session>> new_session();

  // One forward pass over every active session's pending work (its next prompt chunk or
  // its last sampled token; n_batch tokens in all, decode tokens first), then sampling.
  // Each session's callbacks run on the calling thread. A session must not be stepped from
  // two threads at once.
  // `trace`, when given, receives the pass's measurements (n_tokens 0 when nothing ran).
  Status step(std::span<Session* const> sessions, TokenTrace* trace = nullptr);

 private:
  friend class Session;
  Model() = default;
  std::unique_ptr<ModelSource> source_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<StreamingStore> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Transformer> transformer_;
  int64_t n_ctx_ = 0, n_batch_ = 512;
  int n_seq_ = 1;
  KvType kv_type_ = KvType::kF16;
  std::string kv_dir_;  // the KV caches' directory when they are on disk
  double load_s_ = 0;
  std::mutex mu_;  // forward passes, the store and the transformer
  std::mutex live_mu_;
  int n_live_ = 0;  // sessions alive, under live_mu_
};

// One conversation: KV cache, position, sampler, stats. Not thread-safe; one thread drives
// it (directly, or through Model::step).
class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Model& model() const { return *model_; }

  // Starts a generation: tokenizes the prompt, checks it fits, and keeps the cached prefix it
  // shares with the tokens in the KV cache. Nothing is computed until step()/generate().
  // `on_text` must stay valid until the generation finishes.
  [[nodiscard]] Status begin(const GenerateOptions& opts, TextCallback on_text);
  // begun and not yet finished
  bool active() const;
  // begin() and step until finished. The prompt itself is not echoed. Stops after n_predict
  // tokens, at end-of-generation unless ignore_eos, at a stop string, when the context is
  // full, or when `on_text` returns false.
  Status generate(const GenerateOptions& opts, const TextCallback& on_text,
                  GenerateStats* stats = nullptr);
  // The current (or last) generation's measurements.
  const GenerateStats& stats() const;
  // Token ids whose keys and values are in the cache, positions 0..n-1.
  const std::vector<int32_t>& cached_tokens() const;
  // Ends the generation in progress (FinishReason::kCancelled); the cache keeps what was fed.
  void cancel();
  // Forgets the cache (the next prompt prefills from position 0) and ends any generation.
  void reset();

 private:
  friend class Model;
  struct State;
  Session(std::shared_ptr<Model> model, std::unique_ptr<State> state);
  std::shared_ptr<Model> model_;
  std::unique_ptr<State> st_;
};

// A Model with one Session, for one-prompt frontends (run, bench).
class Engine {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Engine>> open(const EngineOptions& opts);
  ~Engine();

  const ModelSource& model() const { return model_->source(); }
  const Tokenizer& tokenizer() const { return model_->tokenizer(); }
  const StreamingStore& store() const { return model_->store(); }
  const Device& device() const { return model_->device(); }
  int n_threads() const { return model_->n_threads(); }
  int64_t n_ctx() const { return model_->n_ctx(); }
  double load_s() const { return model_->load_s(); }
  Model& shared_model() const { return *model_; }
  Session& session() const { return *session_; }

  // One generation on the session, from position 0 (the cache is not reused).
  Status generate(const GenerateOptions& opts, const TextCallback& on_text, GenerateStats* stats);

 private:
  Engine() = default;
  std::shared_ptr<Model> model_;
  std::unique_ptr<Session> session_;
};

// Streaming figures of a generation, over its decode steps (prefill batches excluded).
struct StreamSummary {
  int64_t n_decode_steps = 0;
  double wall_s = 0;      // sum of the decode forward passes
  double compute_s = 0;   // sum of the steps' compute (wall - stall)
  double stall_s = 0;     // compute waiting for streamed layers
  double transfer_s = 0;  // time the load pipeline was busy (union of loads)
  uint64_t bytes_streamed = 0;
  double bytes_per_token = 0;
  double stream_gbps = 0;         // bytes_streamed / transfer_s, 1e9 bytes per GB
  double stall_fraction = 0;      // stall_s / wall_s
  double overlap_efficiency = 0;  // max(compute_s, transfer_s) / wall_s
  std::vector<int64_t> streamed_layers;
  std::vector<double> per_layer_load_s;  // median (ready - start) per streamed layer
  int64_t expert_lookups = 0, expert_hits = 0, expert_prefetched = 0, expert_prefetch_hits = 0;
  // expert_hits / expert_lookups (0 when experts do not stream): the experts no read was for.
  // Bytes per token are about (1 - hit rate) x lookups x expert bytes, plus wrong guesses.
  double expert_hit_rate = 0;
  double expert_prefetch_hit_rate = 0;               // expert_prefetch_hits / expert_lookups
  uint64_t kv_bytes_read = 0, kv_bytes_written = 0;  // KV cache on disk, decode steps
};
StreamSummary summarize_stream(const GenerateStats& stats);

// Peak resident set size of this process, measured (VmHWM), in bytes.
uint64_t peak_rss_bytes();
// Resident set size now (VmRSS), in bytes.
uint64_t current_rss_bytes();

}  // namespace strata
