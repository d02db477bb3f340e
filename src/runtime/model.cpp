#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>
#include <thread>

#include "backend/cpu/thread_pool.h"
#include "backend/device.h"
#include "core/data_dir.h"
#include "core/log.h"
#include "model/model_source.h"
#include "runtime/session_state.h"
#include "runtime/transformer.h"
#include "store/streaming_store.h"

namespace strata {

Model::~Model() {
  transformer_.reset();
  store_.reset();  // before the device it allocated from
}

int Model::n_threads() const { return pool_->n_threads(); }

namespace {
constexpr int64_t kDefaultBatch = 512;  // prompt tokens per forward pass unless -b
// The smallest context and batch an automatic fit tries before it gives up.
constexpr int64_t kMinAutoCtx = 256, kMidAutoBatch = 128, kMinAutoBatch = 32;

// KV caches (one per session) and the scratch the Transformer allocates, for
// --ram-budget.
// A KV cache on disk counts its two windows.
uint64_t runtime_bytes(const ModelConfig& c, int64_t n_ctx, int64_t n_batch, int n_seq,
                       KvType kv_type, bool kv_disk) {
  const uint64_t kv = (kv_disk ? KvCache::disk_window_bytes(c, n_ctx, kv_type)
                               : KvCache::max_bytes(c, n_ctx, kv_type)) *
                      static_cast<uint64_t>(n_seq);
  const uint64_t scratch = static_cast<uint64_t>(n_batch) *
                           (3 * c.n_embd + 3 * c.q_dim() + 2 * c.kv_dim() + 2 * c.n_ff) *
                           sizeof(float);
  // MoE FFN scratch (runtime/moe.h), per batch token: router logits, the gathered input,
  // gate and up of one expert, k outputs; k weights and three index arrays.
  const uint64_t moe =
      c.is_moe() ? static_cast<uint64_t>(n_batch) *
                       ((c.n_expert + c.n_embd + 2 * c.n_ff_exp + c.n_expert_used * c.n_embd) *
                            sizeof(float) +
                        c.n_expert_used * (sizeof(float) + 2 * sizeof(int64_t) + sizeof(int32_t)))
                 : 0;
  return kv + scratch + moe + static_cast<uint64_t>(c.n_vocab) * sizeof(float) * (1 + n_seq);
}

// The directory of KV caches on disk: --kv-dir, else $STRATA_KV_DIR, else $TMPDIR, else
// /var/tmp (on disk where /tmp may be memory).
std::string kv_directory(const std::string& given) {
  if (!given.empty()) return given;
  for (const char* env : {"STRATA_KV_DIR", "TMPDIR"}) {
    const char* v = std::getenv(env);
    if (v != nullptr && *v != '\0') return v;
  }
  return "/var/tmp";
}
}  // namespace

Result<std::shared_ptr<Model>> Model::open(const ModelOptions& opts) {
  if (opts.n_threads < 0)
    return Status::errorf("-t must be >= 0 (0 = all), got {}", opts.n_threads);
  if (opts.n_ctx < 0)
    return Status::errorf("-c must be >= 0 (0 = the model's), got {}", opts.n_ctx);
  if (opts.n_batch < 0) return Status::errorf("-b must be >= 1 (0 = auto), got {}", opts.n_batch);
  if (opts.n_seq < 1 || opts.n_seq > 256) {
    return Status::errorf("--parallel must be in [1, 256], got {}", opts.n_seq);
  }
  Stopwatch sw;
  std::shared_ptr<Model> e(new Model());
  std::string model_path = opts.model_path;
  if (model_path.empty()) {
    STRATA_ASSIGN_OR_RETURN(model_path, find_data_file(kBundledModel));
  }
  STRATA_ASSIGN_OR_RETURN(ModelSource m, open_model(model_path));
  e->source_ = std::make_unique<ModelSource>(std::move(m));
  auto take_tokenizer = [&](Result<std::unique_ptr<Tokenizer>> t) -> Status {
    if (!t) return t.status();
    e->tokenizer_ = std::move(t).value();
    if (e->tokenizer_->n_vocab() > e->source_->config.n_vocab) {
      return Status::errorf("{}: tokenizer has {} tokens but the model's vocabulary is {}",
                            model_path, e->tokenizer_->n_vocab(), e->source_->config.n_vocab);
    }
    return Status::ok();
  };
  // The tokenizer (hash maps over up to a few hundred thousand tokens and merges: tenths of a
  // second) builds on another thread while the weights load, unless a RAM budget is set: the
  // budget starts from what the process holds before the load, tokenizer included.
  std::future<Result<std::unique_ptr<Tokenizer>>> tokenizer_later;
  if (opts.placement.ram_budget_bytes > 0) {
    STRATA_TRY(take_tokenizer(open_tokenizer(*e->source_, opts.tokenizer_path)));
  } else {
    tokenizer_later =
        std::async(std::launch::async, [src = e->source_.get(), path = opts.tokenizer_path] {
          return open_tokenizer(*src, path);
        });
  }
  const ModelConfig& c = e->source_->config;
  e->n_ctx_ = opts.n_ctx > 0 ? opts.n_ctx : std::min<int64_t>(c.n_ctx_train, 4096);
  if (e->n_ctx_ > (1 << 20)) return Status::errorf("context of {} is too large", e->n_ctx_);
  e->n_batch_ = std::clamp<int64_t>(opts.n_batch > 0 ? opts.n_batch : kDefaultBatch, 1, e->n_ctx_);
  e->n_seq_ = opts.n_seq;
  STRATA_TRY(check_kv_type(c, opts.kv_type));
  e->kv_type_ = opts.kv_type;
  if (opts.kv_placement != "auto" && opts.kv_placement != "ram" && opts.kv_placement != "disk") {
    return Status::errorf("--kv-placement must be auto, ram or disk, got '{}'", opts.kv_placement);
  }
  const bool kv_auto = opts.kv_placement == "auto";
  bool kv_disk = opts.kv_placement == "disk";
  int threads = opts.n_threads > 0
                    ? opts.n_threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  STRATA_ASSIGN_OR_RETURN(e->pool_, ThreadPool::create(threads));
  const PlacementOptions& po = opts.placement;
  if (po.device == "cpu") {
    e->device_ = make_cpu_device();
  } else if (po.device == "sim") {
    e->device_ = make_sim_device(po.sim);
  } else {
    return Status::errorf("--device must be cpu or sim, got '{}'", po.device);
  }
  // The budget covers the whole process: what is resident already (code, tokenizer,
  // metadata) plus the KV cache and scratch to come.
  const uint64_t base_bytes = current_rss_bytes();
  auto runtime = [&](int64_t n_ctx, int64_t n_batch, bool disk) {
    return base_bytes + runtime_bytes(c, n_ctx, n_batch, e->n_seq_, e->kv_type_, disk);
  };
  // Under a RAM budget, a context and batch the user left to strata shrink until a plan fits
  // (the placement itself already tries fewer resident layers, then prefetch 0); with
  // --kv-placement auto, the KV cache moves to disk when the smallest of those does not fit
  // (at once when -c is given: the context asked for is kept).
  if (po.ram_budget_bytes > 0 && (opts.n_ctx == 0 || opts.n_batch == 0 || kv_auto)) {
    struct Try {
      int64_t ctx, b;
      bool disk;
      bool operator==(const Try&) const = default;
    };
    std::vector<Try> tries;  // preferred first
    auto add = [&](int64_t ctx, int64_t b) {
      if ((opts.n_ctx > 0 && ctx != e->n_ctx_) || (opts.n_batch > 0 && b != e->n_batch_)) return;
      const Try t{ctx, std::min(b, ctx), kv_disk};
      if (std::find(tries.begin(), tries.end(), t) == tries.end()) tries.push_back(t);
    };
    // The batch first (prefill speed), then the context, then the last of the batch.
    const int64_t ctx0 = e->n_ctx_, b0 = e->n_batch_;
    const int64_t min_ctx = std::min(ctx0, kMinAutoCtx);
    add(ctx0, b0);
    for (int64_t b = b0 / 2; b >= kMidAutoBatch; b /= 2) add(ctx0, b);
    for (int64_t ctx = ctx0 / 2; ctx >= min_ctx; ctx /= 2) add(ctx, std::min(b0, kMidAutoBatch));
    for (int64_t b = kMidAutoBatch / 2; b >= kMinAutoBatch; b /= 2) add(min_ctx, b);
    if (kv_auto) {
      const size_t n_ram = tries.size();
      for (size_t i = 0; i < n_ram; ++i) {
        Try t = tries[i];
        t.disk = true;
        if (std::find(tries.begin(), tries.end(), t) == tries.end()) tries.push_back(t);
      }
    }
    Status last = Status::ok();
    bool found = false;
    for (const auto& [ctx, b, disk] : tries) {
      Result<PlacementPlan> plan =
          StreamingStore::plan_only(*e->source_, po, *e->device_, runtime(ctx, b, disk));
      if (plan.is_ok()) {
        if (ctx != e->n_ctx_ || b != e->n_batch_) {
          STRATA_LOG_INFO("-c auto chose {} and -b {} to fit --ram-budget {}{}", ctx, b,
                          format_bytes(po.ram_budget_bytes), opts.n_ctx > 0 ? " (-c given)" : "");
        }
        if (disk && !kv_disk) {
          STRATA_LOG_INFO(
              "KV cache on disk ({} for -c {}; {} of RAM for its windows) to fit --ram-budget {}",
              format_bytes(KvCache::max_bytes(c, ctx, e->kv_type_) * e->n_seq_), ctx,
              format_bytes(KvCache::disk_window_bytes(c, ctx, e->kv_type_) * e->n_seq_),
              format_bytes(po.ram_budget_bytes));
        }
        e->n_ctx_ = ctx;
        e->n_batch_ = b;
        kv_disk = disk;
        found = true;
        break;
      }
      last = plan.status();
    }
    if (!found && !tries.empty()) {
      // Nothing fits: say what the smallest plan needs (every layer streamed, one slot, the
      // smallest context and batch tried).
      PlacementOptions least = po;
      least.ram_budget_bytes = 0;
      least.gpu_layers = 0;
      least.prefetch = 0;
      if (least.output_head == "auto") least.output_head = "stream";
      const auto [ctx, b, disk] = tries.back();
      Result<PlacementPlan> p =
          StreamingStore::plan_only(*e->source_, least, *e->device_, runtime(ctx, b, disk));
      if (!p.is_ok() && po.output_head == "auto") {  // the head cannot stream here
        least.output_head = "resident";
        p = StreamingStore::plan_only(*e->source_, least, *e->device_, runtime(ctx, b, disk));
      }
      if (!p.is_ok()) return last;
      // A MoE model's smallest expert cache holds one token's experts.
      const int64_t min_experts = std::min<int64_t>(p->expert_slots, c.n_expert_used);
      const uint64_t device =
          p->device_bytes - (p->expert_slots - min_experts) * p->expert_slot_bytes;
      const uint64_t need =
          runtime(ctx, b, disk) + p->host_bytes + (e->device_->shares_host_memory() ? device : 0);
      const uint64_t kept = device - p->slot_bytes * p->n_slots -
                            min_experts * p->expert_slot_bytes - p->head_chunk_bytes;
      std::string what = "the norms";
      if (!p->embd_streamed) what += ", the embedding";
      if (!p->head_streamed && !c.tied_embeddings) what += ", the output head";
      if (p->experts_streamed) what += ", the layers' attention and routers";
      return Status::errorf(
          "{}: --ram-budget {} is too small: the smallest plan (every layer streamed, prefetch 0, "
          "-c {}, -b {}{}{}{}) needs {} of RAM, of which {} are {} kept resident; use --ram-budget "
          "{} or more",
          model_path, format_bytes(po.ram_budget_bytes), ctx, b,
          p->experts_streamed ? fmt::format(", an expert cache of {}", min_experts) : "",
          p->head_streamed ? ", the output head streamed" : "",
          disk ? ", the KV cache on disk" : "", format_bytes(need), format_bytes(kept), what,
          format_bytes(need));
    }
  }
  if (kv_disk) {
    e->kv_dir_ = kv_directory(opts.kv_dir);
    struct stat st {};
    if (::stat(e->kv_dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        ::access(e->kv_dir_.c_str(), W_OK) != 0) {
      return Status::errorf(
          "the KV cache goes to disk, but {} is not a writable directory (set "
          "--kv-dir)",
          e->kv_dir_);
    }
  }
  STRATA_ASSIGN_OR_RETURN(e->store_,
                          StreamingStore::create(*e->source_, po, *e->device_,
                                                 runtime(e->n_ctx_, e->n_batch_, kv_disk)));
  if (tokenizer_later.valid()) STRATA_TRY(take_tokenizer(tokenizer_later.get()));
  e->transformer_ = std::make_unique<Transformer>(c, *e->store_, *e->pool_, e->n_ctx_, e->n_batch_);
  e->load_s_ = sw.elapsed_s();
  return e;
}

Result<std::unique_ptr<Session>> Model::new_session() {
  {
    std::lock_guard lock(live_mu_);
    if (n_live_ >= n_seq_) {
      return Status::errorf(
          "{} sessions are alive already, the most this model was opened for "
          "(n_seq / --parallel)",
          n_live_);
    }
    ++n_live_;
  }
  std::unique_ptr<KvCache> kv;
  if (kv_dir_.empty()) {
    kv = std::make_unique<KvCache>(source_->config, n_ctx_, kv_type_);
  } else {
    Result<std::unique_ptr<KvCache>> disk =
        KvCache::create_on_disk(source_->config, n_ctx_, kv_type_, kv_dir_);
    if (!disk) {
      std::lock_guard lock(live_mu_);
      --n_live_;
      return disk.status();
    }
    kv = std::move(*disk);
  }
  return std::unique_ptr<Session>(
      new Session(shared_from_this(), std::make_unique<Session::State>(std::move(kv))));
}

Status Model::step(std::span<Session* const> sessions, TokenTrace* trace) {
  if (trace) *trace = TokenTrace{};
  std::lock_guard lock(mu_);
  // Decode tokens first (one each), then prompt chunks in the batch that
  // remains.
  struct Part {
    Session::State* st;
    int64_t n;
    bool prefill;
  };
  std::vector<Part> parts;
  std::vector<SeqInput> inputs;
  int64_t budget = n_batch_;
  const int64_t V = source_->config.n_vocab;
  for (int pass = 0; pass < 2; ++pass) {
    for (Session* s : sessions) {
      Session::State& st = *s->st_;
      if (!st.active) continue;
      const bool decoding = st.prompt_fed >= st.prompt.size();
      if (decoding != (pass == 0)) continue;
      std::span<const int32_t> toks = st.pending(budget);
      if (toks.empty()) continue;
      const int64_t n = static_cast<int64_t>(toks.size());
      const bool all = static_cast<bool>(st.opts.on_logits);
      st.logits.resize(static_cast<size_t>(all ? n : 1) * V);
      inputs.push_back(
          {st.kv.get(), static_cast<int64_t>(st.cached.size()), toks, st.logits.data(), all});
      parts.push_back({&st, n, !decoding});
      budget -= n;
    }
  }
  if (inputs.empty()) return Status::ok();
  ForwardTimings ft;
  uint64_t kv_read0 = 0, kv_written0 = 0;
  for (const SeqInput& in : inputs) {
    kv_read0 += in.kv->bytes_read();
    kv_written0 += in.kv->bytes_written();
  }
  const double t0 = now_seconds();
  Status s = transformer_->forward(inputs, &ft);
  TokenTrace tr;
  for (const SeqInput& in : inputs) {
    tr.kv_bytes_read += in.kv->bytes_read();
    tr.kv_bytes_written += in.kv->bytes_written();
  }
  tr.kv_bytes_read -= kv_read0;
  tr.kv_bytes_written -= kv_written0;
  for (const Part& p : parts) tr.n_tokens += p.n;
  tr.wall_s = now_seconds() - t0;
  tr.loads = store_->take_loads();
  for (const LayerLoad& l : tr.loads) {
    tr.stall_s += l.stall_s;
    tr.transfer_s += l.ready_s - l.start_s;
    tr.bytes_streamed += l.bytes;
  }
  const ExpertCacheStats es = store_->take_expert_stats();
  tr.stall_s += es.stall_s;
  tr.expert_lookups = es.lookups;
  tr.expert_hits = es.hits;
  tr.expert_prefetch_hits = es.prefetch_used;
  tr.expert_prefetched = es.prefetched;
  // Everything the pass did besides waiting: the layers, the embedding, the
  // output head.
  tr.compute_s = std::max(0.0, tr.wall_s - tr.stall_s);
  tr.layer_compute_s = std::move(ft.layer_compute_s);
  if (!s.is_ok()) {
    for (const Part& p : parts) p.st->active = false;
    return s;
  }
  if (trace) {
    *trace = tr;
    for (const Part& p : parts) trace->prefill |= p.prefill;
  }
  for (const Part& p : parts) {
    tr.prefill = p.prefill;
    if (p.st->opts.on_trace) p.st->opts.on_trace(tr);
    p.st->after_pass(*this, p.n, tr);
  }
  return Status::ok();
}

}  // namespace strata
