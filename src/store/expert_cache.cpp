#include "store/expert_cache.h"

#include <algorithm>
#include <cstring>

#include "core/timer.h"
#include "core/units.h"
#include "model/tensor_spec.h"
#include "store/layer_layout.h"

namespace strata {

namespace {
// Experts read in one FileReader call: their requests go out together, so the disk sees a
// deep queue even when each expert is small.
constexpr size_t kMaxBatch = 16;
// A prefetch that is rarely right costs disk time the wanted loads need: below this share
// of used prefetches, only one prefetch() call in kProbeEvery is served, to keep measuring.
constexpr double kMinPrefetchAccuracy = 0.3;
constexpr uint64_t kProbeEvery = 16;
constexpr double kAccuracyWeight = 0.05;  // of the newest outcome in the running share
}  // namespace

ExpertCacheStats& ExpertCacheStats::operator+=(const ExpertCacheStats& o) {
  lookups += o.lookups;
  hits += o.hits;
  prefetched += o.prefetched;
  prefetch_used += o.prefetch_used;
  stall_s += o.stall_s;
  return *this;
}

namespace {

// The expert tensors of `layer`: gate, up, down stacked, or 3 per expert when split.
Result<std::vector<const TensorInfo*>> expert_tensors(const ModelConfig& c,
                                                      const TensorIndex& index, int64_t layer) {
  const std::vector<TensorSpec> specs = layer_tensor_specs(c, layer);
  std::vector<int> which;
  if (c.experts_split) {
    for (int i = kLayerTensorCount; i < static_cast<int>(specs.size()); ++i) which.push_back(i);
  } else {
    which = {static_cast<int>(LayerTensor::kGateExps), static_cast<int>(LayerTensor::kUpExps),
             static_cast<int>(LayerTensor::kDownExps)};
  }
  std::vector<const TensorInfo*> out;
  for (int i : which) {
    const TensorInfo* t = specs[i].name.empty() ? nullptr : index.find(specs[i].name);
    if (!t || !t->dtype) {
      return Status::errorf(
          "layer {}: expert tensor '{}' is missing or of a type strata cannot "
          "compute with",
          layer, specs[i].name);
    }
    out.push_back(t);
  }
  return out;
}

// One of an expert's three row ranges (gate, up, down) in the file.
struct Piece {
  const TensorInfo* info = nullptr;
  uint64_t offset = 0, nbytes = 0;
  int64_t rows = 0, cols = 0, row_bytes = 0;
};

// Expert `e`'s pieces, from the layer's expert tensors (expert_tensors()).
Status expert_pieces(const ModelConfig& c, const std::vector<const TensorInfo*>& ts, int32_t e,
                     Piece out[3]) {
  for (int p = 0; p < 3; ++p) {
    const bool down = p == 2;
    Piece& pc = out[p];
    pc.rows = down ? c.n_embd : c.n_ff_exp;
    pc.cols = down ? c.n_ff_exp : c.n_embd;
    if (c.experts_split) {
      pc.info = ts[static_cast<size_t>(e) * 3 + p];
      pc.offset = pc.info->offset;
      pc.nbytes = pc.info->nbytes;
    } else {
      pc.info = ts[p];
      pc.nbytes = pc.info->nbytes / static_cast<uint64_t>(c.n_expert);
      pc.offset = pc.info->offset + static_cast<uint64_t>(e) * pc.nbytes;
    }
    pc.row_bytes = static_cast<int64_t>(pc.nbytes) / pc.rows;
    if (pc.row_bytes * pc.rows != static_cast<int64_t>(pc.nbytes) ||
        pc.row_bytes != static_cast<int64_t>(row_bytes(*pc.info->dtype, pc.cols))) {
      return Status::errorf("tensor '{}': {} bytes do not hold {} experts of {} x {} {}",
                            pc.info->name, pc.info->nbytes, c.experts_split ? 1 : c.n_expert,
                            pc.rows, pc.cols, pc.info->dtype_name);
    }
  }
  return Status::ok();
}

}  // namespace

Result<uint64_t> ExpertCache::expert_slot_bytes(const ModelConfig& c, const TensorIndex& index,
                                                int64_t layer) {
  STRATA_ASSIGN_OR_RETURN(std::vector<const TensorInfo*> ts, expert_tensors(c, index, layer));
  uint64_t most = 0;
  const int32_t n = c.experts_split ? static_cast<int32_t>(c.n_expert) : 1;
  for (int32_t e = 0; e < n; ++e) {
    Piece ps[3];
    STRATA_TRY(expert_pieces(c, ts, e, ps));
    uint64_t b = 0;
    // Stacked experts start at different alignments; the widest case is one block more.
    for (const Piece& p : ps)
      b += c.experts_split ? aligned_read_bytes(p.offset, p.nbytes)
                           : align_up(p.nbytes, kDirectIoAlignBytes) + kDirectIoAlignBytes;
    most = std::max(most, b);
  }
  return most;
}

Result<std::unique_ptr<ExpertCache>> ExpertCache::create(const ModelConfig& c,
                                                         const TensorIndex& index,
                                                         const std::vector<bool>& layers,
                                                         int64_t n_slots, uint64_t slot_bytes,
                                                         FileReader& reader, Device& device) {
  if (n_slots < 1) return Status::error("the expert cache needs at least one slot");
  std::unique_ptr<ExpertCache> ec(new ExpertCache(c, reader, device));
  ec->tensors_.resize(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    if (!layers[l]) continue;
    STRATA_ASSIGN_OR_RETURN(ec->tensors_[l], expert_tensors(c, index, static_cast<int64_t>(l)));
  }
  ec->slot_bytes_ = align_up(slot_bytes, kDirectIoAlignBytes);
  const uint64_t total = ec->slot_bytes_ * static_cast<uint64_t>(n_slots);
  auto mem = device.alloc(total);
  if (!mem) return mem.status().with_context("allocating the expert cache");
  ec->device_mem_ = static_cast<char*>(*mem);
  if (device.shares_host_memory()) {
    // Fault the cache's pages in now: a slot's first direct read would otherwise fault them
    // in (and, with transparent huge pages, compact memory for them) while a token waits.
    // Measured on the qwen3-30b-a3b shape: caches larger than prefill fills decoded up to 25%
    // slower, their first-touch loads at 0.6-0.9 GB/s against 5.5 for warm slots.
    for (uint64_t at = 0; at < total; at += 4096) ec->device_mem_[at] = 0;
  }
  if (!device.shares_host_memory()) {
    auto st = device.alloc_pinned(ec->slot_bytes_ * kMaxBatch);
    if (!st) return st.status().with_context("allocating the expert cache's staging buffer");
    ec->staging_ = static_cast<char*>(*st);
  }
  ec->slots_.resize(static_cast<size_t>(n_slots));
  for (int64_t i = 0; i < n_slots; ++i)
    ec->slots_[i].mem = ec->device_mem_ + static_cast<uint64_t>(i) * ec->slot_bytes_;
  ec->io_thread_ = std::thread([p = ec.get()] { p->io_loop(); });
  return ec;
}

ExpertCache::~ExpertCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  io_cv_.notify_all();
  cv_.notify_all();
  if (io_thread_.joinable()) io_thread_.join();
  if (device_mem_) device_.free(device_mem_);
  if (staging_) device_.free_pinned(staging_);
}

void ExpertCache::want(int64_t layer, std::span<const int32_t> experts,
                       std::vector<int32_t>* order) {
  std::lock_guard<std::mutex> lock(mu_);
  hints_.clear();  // the last layer's guesses: too late now
  order->clear();
  std::vector<int32_t> missed;
  for (int32_t e : experts) {
    const int64_t k = key(layer, e);
    ++stats_.lookups;
    auto it = where_.find(k);
    if (it != where_.end() && slots_[it->second].state == State::kFailed) {
      evict_locked(it->second);  // try the read again
      it = where_.end();
    }
    if (it != where_.end()) {
      Slot& s = slots_[it->second];
      s.wanted = true;
      if (s.from_prefetch && !s.used) {
        ++stats_.prefetch_used;  // read for this use, on a guess: not a hit
        prefetch_accuracy_ += kAccuracyWeight * (1.0 - prefetch_accuracy_);
      } else {
        ++stats_.hits;
      }
      s.used = true;
      order->push_back(e);
    } else {
      missed.push_back(e);
      demand_.push_back(k);
    }
  }
  order->insert(order->end(), missed.begin(), missed.end());
  if (!missed.empty()) io_cv_.notify_one();
}

void ExpertCache::prefetch(int64_t layer, std::span<const int32_t> experts) {
  if (!prefetch_on_) return;
  std::lock_guard<std::mutex> lock(mu_);
  const bool serve =
      prefetch_accuracy_ >= kMinPrefetchAccuracy || prefetch_calls_ % kProbeEvery == 0;
  ++prefetch_calls_;
  if (!serve) return;
  for (int32_t e : experts) {
    const int64_t k = key(layer, e);
    if (!where_.count(k)) hints_.push_back(k);
  }
  if (!hints_.empty()) io_cv_.notify_one();
}

Result<ExpertWeights> ExpertCache::get(int64_t layer, int32_t expert) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t k = key(layer, expert);
  if (!where_.count(k) && std::find(demand_.begin(), demand_.end(), k) == demand_.end()) {
    demand_.push_back(k);  // not wanted first: load it now
    io_cv_.notify_one();
  }
  const double t0 = now_seconds();
  int slot = -1;
  cv_.wait(lock, [&] {
    if (stop_) return true;
    auto it = where_.find(k);
    if (it == where_.end()) return false;
    slot = it->second;
    return slots_[slot].state == State::kReady || slots_[slot].state == State::kFailed;
  });
  stats_.stall_s += now_seconds() - t0;
  if (stop_) return Status::error("the expert cache is shutting down");
  Slot& s = slots_[slot];
  if (s.state == State::kFailed) {
    Status err = s.error;
    evict_locked(slot);
    io_cv_.notify_one();
    return err;
  }
  s.wanted = false;
  s.pinned = true;
  s.stamp = ++clock_;
  return s.views;
}

void ExpertCache::put(int64_t layer, int32_t expert) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = where_.find(key(layer, expert));
  if (it == where_.end()) return;
  slots_[it->second].pinned = false;
  io_cv_.notify_one();
}

void ExpertCache::finish(int64_t layer) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t lo = key(layer, 0), hi = key(layer + 1, 0);
  for (Slot& s : slots_) {
    if (s.key >= lo && s.key < hi) s.wanted = s.pinned = false;
  }
  std::erase_if(demand_, [&](int64_t k) { return k >= lo && k < hi; });
  io_cv_.notify_one();
}

// The least recently used expert that nobody is waiting for or computing with; a free slot
// first. -1 when none.
int ExpertCache::victim_locked() const {
  int best = -1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.state == State::kFree) return static_cast<int>(i);
    if (s.state == State::kLoading || s.wanted || s.pinned) continue;
    if (best < 0 || s.stamp < slots_[best].stamp) best = static_cast<int>(i);
  }
  return best;
}

void ExpertCache::evict_locked(int slot) {
  Slot& s = slots_[slot];
  if (s.key >= 0) where_.erase(s.key);
  if (s.from_prefetch && !s.used && s.state == State::kReady)
    prefetch_accuracy_ -= kAccuracyWeight * prefetch_accuracy_;
  s.key = -1;
  s.state = State::kFree;
  s.wanted = s.pinned = s.from_prefetch = s.used = false;
  s.error = Status::ok();
}

std::vector<LayerLoad> ExpertCache::take_loads() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LayerLoad> out;
  out.swap(loads_);
  return out;
}

ExpertCacheStats ExpertCache::take_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  ExpertCacheStats s = stats_;
  stats_ = ExpertCacheStats{};
  return s;
}

// Reads the batch's experts into their slots (through the staging buffer when the device
// has its own memory) and sets their views.
Status ExpertCache::load(std::vector<int>& batch, char* staging) {
  std::vector<ReadRequest> reads;
  std::vector<AlignedRead> pieces;
  for (size_t b = 0; b < batch.size(); ++b) {
    Slot& s = slots_[batch[b]];
    const int64_t layer = s.key / c_.n_expert;
    const int32_t e = static_cast<int32_t>(s.key % c_.n_expert);
    Piece ps[3];
    STRATA_TRY(expert_pieces(c_, tensors_[layer], e, ps));
    char* base = staging ? staging + b * slot_bytes_ : s.mem;
    uint64_t at = 0;
    WeightView* views[3] = {&s.views.gate, &s.views.up, &s.views.down};
    s.load.bytes = 0;
    s.load.read_bytes = 0;
    for (int p = 0; p < 3; ++p) {
      const Piece& pc = ps[p];
      const uint64_t span = aligned_read_bytes(pc.offset, pc.nbytes);
      if (at + span > slot_bytes_) return Status::error("an expert does not fit its cache slot");
      const AlignedRead r = aligned_read(pc.info->file_index, pc.offset, pc.nbytes, base + at,
                                         dtype_alignment(*pc.info->dtype));
      reads.push_back(r.request);
      pieces.push_back(r);
      WeightView& v = *views[p];
      v.data = s.mem + at + (r.data - (base + at));  // the same place in device memory
      v.dtype = *pc.info->dtype;
      v.rows = pc.rows;
      v.cols = pc.cols;
      v.row_bytes = pc.row_bytes;
      s.load.bytes += pc.nbytes;
      s.load.read_bytes += span;
      at += span;
    }
  }
  STRATA_TRY(reader_.read(reads));
  for (const AlignedRead& r : pieces) r.realign();
  if (staging) {
    for (size_t b = 0; b < batch.size(); ++b) {
      auto ev = device_.copy_to_device_async(slots_[batch[b]].mem, staging + b * slot_bytes_,
                                             slot_bytes_);
      if (!ev) return ev.status();
      STRATA_TRY((*ev)->synchronize());
    }
  }
  return Status::ok();
}

void ExpertCache::io_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<int> batch;
  for (;;) {
    batch.clear();
    // Wanted loads first, in order; guesses only when nothing wanted is waiting.
    for (std::deque<int64_t>* q : {&demand_, &hints_}) {
      if (q == &hints_ && !demand_.empty()) break;
      while (!q->empty() && batch.size() < kMaxBatch) {
        const int64_t k = q->front();
        if (auto it = where_.find(k); it != where_.end()) {
          if (q == &demand_) slots_[it->second].wanted = true;
          q->pop_front();
          continue;
        }
        const int v = victim_locked();
        if (v < 0) break;
        q->pop_front();
        evict_locked(v);
        Slot& s = slots_[v];
        s.key = k;
        s.state = State::kLoading;
        s.from_prefetch = q == &hints_;
        s.wanted = s.used = !s.from_prefetch;
        s.stamp = ++clock_;
        s.load = LayerLoad{};
        s.load.layer = k / c_.n_expert;
        s.load.expert = static_cast<int32_t>(k % c_.n_expert);
        s.load.tier = Tier::kDisk;
        s.load.request_s = s.load.start_s = now_seconds();
        if (s.from_prefetch) ++stats_.prefetched;
        where_[k] = v;
        batch.push_back(v);
      }
    }
    if (batch.empty()) {
      if (stop_) return;
      io_cv_.wait(lock);
      if (stop_) return;
      continue;
    }
    // Slots in kLoading are the I/O thread's until it publishes their new state.
    lock.unlock();
    Status st = load(batch, staging_);
    const double t = now_seconds();
    lock.lock();
    for (int v : batch) {
      Slot& s = slots_[v];
      if (!st) {
        s.state = State::kFailed;
        s.error = st;
        continue;
      }
      s.state = State::kReady;
      s.load.ready_s = t;
      loads_.push_back(s.load);
    }
    cv_.notify_all();
  }
}

}  // namespace strata
