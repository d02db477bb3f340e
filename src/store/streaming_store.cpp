#include "store/streaming_store.h"

#include <cstdlib>
#include <filesystem>

#include "core/log.h"
#include "core/prefault.h"
#include "core/timer.h"
#include "core/units.h"

namespace strata {

namespace {

// A MoE layer's specs without its experts (what stays resident when its experts stream).
std::vector<TensorSpec> dense_specs(const ModelConfig& c, int64_t layer) {
  std::vector<TensorSpec> specs = layer_tensor_specs(c, layer);
  specs.resize(kLayerTensorCount);
  for (LayerTensor t : {LayerTensor::kGateExps, LayerTensor::kUpExps, LayerTensor::kDownExps})
    specs[static_cast<int>(t)].name.clear();
  return specs;
}

// Fills the plan inputs' MoE fields: the layers' bytes without experts and the size of one
// expert in the cache. Dense models leave them empty.
Status expert_plan_inputs(const ModelConfig& c, const TensorIndex& index, PlanInputs* in) {
  if (!c.is_moe()) return Status::ok();
  in->dense_bytes.assign(c.n_layer, 0);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    auto specs = dense_specs(c, l);
    in->dense_bytes[l] =
        make_layer_layout(index, specs.data(), static_cast<int>(specs.size())).total_bytes;
    STRATA_ASSIGN_OR_RETURN(uint64_t esb, ExpertCache::expert_slot_bytes(c, index, l));
    in->expert_slot_bytes = std::max(in->expert_slot_bytes, esb);
  }
  in->n_expert = c.n_expert;
  in->n_expert_used = c.n_expert_used;
  return Status::ok();
}

// The global specs without the tensors that stream: the embedding, and the head's own
// tensor when it is untied.
std::array<TensorSpec, kGlobalTensorCount> resident_global_specs(const ModelConfig& c, bool embd,
                                                                 bool head) {
  auto g = global_tensor_specs(c);
  if (embd) g[static_cast<int>(GlobalTensor::kTokEmbd)].name.clear();
  if (head) g[static_cast<int>(GlobalTensor::kOutput)].name.clear();
  return g;
}

// The head's tensor: the output matrix, or the embedding when tied.
const TensorInfo* head_tensor(const ModelConfig& c, const TensorIndex& index) {
  const auto g = global_tensor_specs(c);
  const GlobalTensor t = c.tied_embeddings ? GlobalTensor::kTokEmbd : GlobalTensor::kOutput;
  const TensorInfo* info = index.find(g[static_cast<int>(t)].name);
  return info && info->dtype && info->shape.size() == 2 ? info : nullptr;
}

// Fills the plan inputs' global sizes: the embedding and head apart from the rest, so the
// planner can stream them.
void head_plan_inputs(const ModelConfig& c, const TensorIndex& index, uint64_t chunk_bytes,
                      PlanInputs* in) {
  const TensorInfo* head = head_tensor(c, index);
  auto g = global_tensor_specs(c);
  in->globals_bytes = make_layer_layout(index, g.data(), kGlobalTensorCount).total_bytes;
  const TensorInfo* embd = index.find(g[static_cast<int>(GlobalTensor::kTokEmbd)].name);
  if (!head || !embd || !embd->dtype) return;
  auto rest = resident_global_specs(c, true, true);
  in->globals_bytes = make_layer_layout(index, rest.data(), kGlobalTensorCount).total_bytes;
  in->embd_bytes = align_up(embd->nbytes, kDirectIoAlignBytes);
  in->head_bytes = c.tied_embeddings ? 0 : align_up(head->nbytes, kDirectIoAlignBytes);
  in->head_chunk_bytes = DiskRowStream::buffer_bytes(*head, chunk_bytes);
}

}  // namespace

Result<std::unique_ptr<StreamingStore>> StreamingStore::create(const ModelSource& model,
                                                               const PlacementOptions& opts,
                                                               Device& device,
                                                               uint64_t runtime_bytes,
                                                               std::unique_ptr<FileReader> reader) {
  std::unique_ptr<StreamingStore> s(new StreamingStore(model, device));
  STRATA_TRY(s->init(opts, runtime_bytes, std::move(reader)));
  return s;
}

Result<PlacementPlan> StreamingStore::plan_only(const ModelSource& model,
                                                const PlacementOptions& opts, Device& device,
                                                uint64_t runtime_bytes) {
  std::unique_ptr<StreamingStore> s(new StreamingStore(model, device));
  STRATA_TRY(s->choose_source(opts));
  PlanInputs in;
  for (int64_t l = 0; l < model.config.n_layer; ++l) {
    auto specs = layer_tensor_specs(model.config, l);
    const LayerLayout L =
        make_layer_layout(*s->index_, specs.data(), static_cast<int>(specs.size()));
    in.layer_bytes.push_back(L.total_bytes);
    in.slot_bytes = std::max(in.slot_bytes, L.total_bytes);
  }
  head_plan_inputs(model.config, *s->index_, opts.head_chunk_bytes, &in);
  in.runtime_bytes = runtime_bytes;
  in.device_shares_host = device.shares_host_memory();
  in.device_capacity_bytes = device.stats().capacity_bytes;
  STRATA_TRY(expert_plan_inputs(model.config, *s->index_, &in));
  return make_placement_plan(opts, in);
}

Status StreamingStore::choose_source(const PlacementOptions& opts) {
  index_ = &model_.index;
  if (!opts.pack_dir.empty()) {
    STRATA_ASSIGN_OR_RETURN(LayerPack p, open_layer_pack(opts.pack_dir, model_));
    pack_ = std::move(p);
    index_ = &pack_->index;
    return Status::ok();
  }
  return Status::ok();
}

Status StreamingStore::init(const PlacementOptions& opts, uint64_t runtime_bytes,
                            std::unique_ptr<FileReader> reader) {
  verify_ = opts.verify;
  STRATA_TRY(choose_source(opts));
  const ModelConfig& c = model_.config;
  auto build_layouts = [&] {
    layouts_.clear();
    for (int64_t l = 0; l < c.n_layer; ++l) {
      auto specs = layer_tensor_specs(c, l);
      layouts_.push_back(make_layer_layout(*index_, specs.data(), static_cast<int>(specs.size())));
    }
    auto g = global_tensor_specs(c);
    globals_layout_ = make_layer_layout(*index_, g.data(), kGlobalTensorCount);
  };
  build_layouts();

  PlanInputs in;
  for (const auto& L : layouts_) {
    in.layer_bytes.push_back(L.total_bytes);
    in.slot_bytes = std::max(in.slot_bytes, L.total_bytes);
  }
  head_plan_inputs(c, *index_, opts.head_chunk_bytes, &in);
  in.runtime_bytes = runtime_bytes;
  in.device_shares_host = device_.shares_host_memory();
  in.device_capacity_bytes = device_.stats().capacity_bytes;
  STRATA_TRY(expert_plan_inputs(c, *index_, &in));
  STRATA_ASSIGN_OR_RETURN(plan_, make_placement_plan(opts, in));

  // Streaming straight from the model file needs each layer's bytes close together. If they
  // are scattered, write a layer pack once into the cache (oLLM does the same on first load).
  if (!pack_ && plan_.n_streamed() > 0) {
    bool scattered = false;
    for (int64_t l = 0; l < c.n_layer; ++l) {
      if (plan_.layer_tier[l] != Tier::kDevice && !plan_.streams_experts(l) &&
          !layouts_[l].streams_well())
        scattered = true;
    }
    if (scattered && opts.auto_pack) {
      const std::string dir = auto_layer_pack_dir(model_);
      auto existing = open_layer_pack(dir, model_);
      if (!existing) {
        STRATA_LOG_INFO("{}: layers are scattered in the file; writing a layer pack to {} (once)",
                        model_.path, dir);
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        Status written = ec ? Status::errorf("{}: cannot create: {}", dir, ec.message())
                            : write_layer_pack(model_, dir, nullptr);
        if (written) {
          existing = open_layer_pack(dir, model_);
          if (!existing) return existing.status();
        } else {
          // A read-only or full cache costs extra reads, not the run.
          STRATA_LOG_WARN(
              "cannot write the layer pack ({}); streaming from {} instead, reading "
              "extra bytes between its tensors",
              written.message(), model_.path);
        }
      } else {
        STRATA_LOG_INFO("streaming from the cached layer pack {}", dir);
      }
      if (existing) {
        pack_ = std::move(existing).value();
        index_ = &pack_->index;
        build_layouts();
      }
    } else if (scattered) {
      STRATA_LOG_WARN("{}: layers are scattered in the file; streaming will read extra bytes",
                      model_.path);
    }
  }

  if (!reader) {
    std::vector<std::string> files = index_->files;
    STRATA_ASSIGN_OR_RETURN(reader, make_file_reader(files, opts.io));
  }
  reader_ = std::move(reader);

  if (plan_.head_streamed || plan_.embd_streamed) {
    auto g =
        resident_global_specs(c, plan_.embd_streamed, plan_.head_streamed && !c.tied_embeddings);
    globals_layout_ = make_layer_layout(*index_, g.data(), kGlobalTensorCount);
    const TensorInfo* head = head_tensor(c, *index_);
    if (plan_.head_streamed) {
      STRATA_ASSIGN_OR_RETURN(
          head_stream_, DiskRowStream::create(*head, opts.head_chunk_bytes, *reader_, device_));
    }
    if (plan_.embd_streamed) {
      const TensorInfo* embd =
          index_->find(global_tensor_specs(c)[static_cast<int>(GlobalTensor::kTokEmbd)].name);
      embd_rows_ = std::make_unique<DiskRows>(*embd, *reader_);
    }
  }
  // Globals and resident layers: loaded now, synchronously. Everything is allocated first, so
  // that while the reads fill the regions in order, other cores fault in (have the kernel zero)
  // the pages ahead of them instead of each read's submission doing it page by page.
  struct ResidentLoad {
    const LayerLayout* layout;
    int64_t layer;  // -1: the globals
    char* mem;
    bool host;  // mem is host memory the reads fill (else device memory, through staging)
  };
  std::vector<ResidentLoad> loads;
  const bool shared = device_.shares_host_memory();
  STRATA_ASSIGN_OR_RETURN(char* g, alloc_resident(globals_layout_, -1));
  layout_views(globals_layout_, g, globals_.t.data());
  loads.push_back({&globals_layout_, -1, g, shared});
  resident_views_.resize(c.n_layer);
  host_tier_.assign(c.n_layer, nullptr);
  stream_pos_.assign(c.n_layer, -1);
  dense_layouts_.resize(c.n_layer);  // before the loop: `loads` points into it
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const Tier t = plan_.layer_tier[l];
    if (t == Tier::kDevice) {
      STRATA_ASSIGN_OR_RETURN(char* mem, alloc_resident(layouts_[l], l));
      layout_views(layouts_[l], mem, &resident_views_[l]);
      loads.push_back({&layouts_[l], l, mem, shared});
      continue;
    }
    if (plan_.streams_experts(l)) {
      // Attention, norms and router resident; the experts come through the cache.
      auto specs = dense_specs(c, l);
      dense_layouts_[l] = make_layer_layout(*index_, specs.data(), static_cast<int>(specs.size()));
      STRATA_ASSIGN_OR_RETURN(char* mem, alloc_resident(dense_layouts_[l], l));
      layout_views(dense_layouts_[l], mem, &resident_views_[l]);
      loads.push_back({&dense_layouts_[l], l, mem, shared});
      continue;
    }
    stream_pos_[l] = static_cast<int64_t>(streamed_.size());
    streamed_.push_back(l);
    if (t == Tier::kHost) {
      STRATA_ASSIGN_OR_RETURN(void* p, device_.alloc_pinned(layouts_[l].total_bytes));
      pinned_allocs_.push_back(static_cast<char*>(p));
      host_tier_[l] = static_cast<char*>(p);
      loads.push_back({&layouts_[l], l, host_tier_[l], true});
    }
  }
  {
    std::vector<MemoryRegion> regions;
    for (const ResidentLoad& r : loads) {
      if (r.host) regions.push_back({r.mem, r.layout->total_bytes});
    }
    Prefaulter prefault(std::move(regions));
    for (const ResidentLoad& r : loads) {
      if (r.layout->total_bytes == 0) continue;
      STRATA_TRY(r.host ? read_layout(*r.layout, r.layer, r.mem)
                        : upload_resident(*r.layout, r.layer, r.mem));
    }
  }
  if (plan_.experts_streamed) {
    std::vector<bool> layers(c.n_layer);
    for (int64_t l = 0; l < c.n_layer; ++l) layers[l] = plan_.streams_experts(l);
    STRATA_ASSIGN_OR_RETURN(expert_cache_,
                            ExpertCache::create(c, *index_, layers, plan_.expert_slots,
                                                plan_.expert_slot_bytes, *reader_, device_));
    expert_cache_->set_prefetch(opts.expert_prefetch);
  }
  // Slots, and staging buffers where disk reads cannot land in device memory directly.
  const bool staged = !device_.shares_host_memory() && plan_.offload_tier == Tier::kDisk;
  slots_.resize(plan_.n_slots);
  for (Slot& s : slots_) {
    auto mem = device_.alloc(plan_.slot_bytes);
    if (!mem) return mem.status().with_context("allocating a streaming slot");
    s.device_mem = static_cast<char*>(*mem);
    device_allocs_.push_back(s.device_mem);
    if (staged) {
      STRATA_ASSIGN_OR_RETURN(void* p, device_.alloc_pinned(plan_.slot_bytes));
      s.staging = static_cast<char*>(p);
      pinned_allocs_.push_back(s.staging);
    }
  }
  if (!streamed_.empty()) {
    io_thread_ = std::thread([this] { io_loop(); });
    completion_thread_ = std::thread([this] { completion_loop(); });
    std::lock_guard<std::mutex> lock(mu_);
    pump_locked();
  }
  return Status::ok();
}

StreamingStore::~StreamingStore() {
  expert_cache_.reset();  // their threads read through reader_
  head_stream_.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  io_cv_.notify_all();
  done_cv_.notify_all();
  cv_.notify_all();
  if (io_thread_.joinable()) io_thread_.join();
  if (completion_thread_.joinable()) completion_thread_.join();
  for (Slot& s : slots_) {
    if (s.event) (void)s.event->synchronize();  // no copy may still write into freed memory
  }
  for (char* p : device_allocs_) device_.free(p);
  for (char* p : pinned_allocs_) device_.free_pinned(p);
}

std::string StreamingStore::io_description() const {
  std::string s = reader_ ? reader_->describe() : "none";
  if (pack_)
    s += ", layer pack " + pack_->dir + (verify_ ? " (checksums verified)" : "");
  else
    s += ", from the model file";
  return s;
}

Status StreamingStore::read_layout(const LayerLayout& layout, int64_t layer, char* host) {
  std::vector<ReadRequest> reads = layout_reads(layout, host);
  STRATA_TRY(reader_->read(reads));
  // The manifest checksums whole layers and the whole globals: a part of one (a MoE layer
  // without its experts, the globals without a streamed head) is not checked.
  const bool whole =
      layer >= 0 ? &layout == &layouts_[layer] : !(plan_.head_streamed || plan_.embd_streamed);
  if (verify_ && pack_ && whole) {
    const PackRegion& r = layer < 0 ? pack_->globals : pack_->layers[layer];
    // The region is the start of the layout's single extent.
    const Extent& e = layout.extents.front();
    const uint64_t got = xxh64_of(host + e.slot_offset + (r.offset - e.file_offset), r.nbytes);
    if (got != r.xxh64) {
      return Status::errorf(
          "{}: checksum mismatch in {} (xxh64 {:016x}, manifest says {:016x}): "
          "the pack is corrupt, convert again",
          pack_->data_path,
          layer < 0 ? std::string("the globals") : "layer " + std::to_string(layer), got, r.xxh64);
    }
  }
  finalize_layout(layout, host);
  return Status::ok();
}

Result<char*> StreamingStore::alloc_resident(const LayerLayout& layout, int64_t layer) {
  auto mem = device_.alloc(std::max<uint64_t>(layout.total_bytes, 1));
  if (!mem)
    return mem.status().with_context(layer < 0 ? "allocating the globals"
                                               : "allocating layer " + std::to_string(layer));
  char* dev = static_cast<char*>(*mem);
  device_allocs_.push_back(dev);
  return dev;
}

// Device memory the host cannot read into: through a pinned staging buffer.
Status StreamingStore::upload_resident(const LayerLayout& layout, int64_t layer, char* dev) {
  if (layout.total_bytes == 0) return Status::ok();
  STRATA_ASSIGN_OR_RETURN(void* tmp, device_.alloc_pinned(layout.total_bytes));
  Status s = read_layout(layout, layer, static_cast<char*>(tmp));
  if (s) {
    auto ev = device_.copy_to_device_async(dev, tmp, layout.total_bytes);
    s = ev ? (*ev)->synchronize() : ev.status();
  }
  device_.free_pinned(tmp);
  return s;
}

int StreamingStore::find_slot_locked(int64_t layer) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].layer == layer && slots_[i].state != SlotState::kFree) return static_cast<int>(i);
  }
  return -1;
}

void StreamingStore::schedule_locked(int64_t layer, int slot) {
  Slot& s = slots_[slot];
  s.layer = layer;
  s.state = SlotState::kLoading;
  s.error = Status::ok();
  s.event.reset();
  s.load = LayerLoad{};
  s.load.layer = layer;
  s.load.tier = plan_.layer_tier[layer];
  s.load.bytes = layouts_[layer].tensor_bytes;
  s.load.read_bytes = plan_.layer_tier[layer] == Tier::kHost ? layouts_[layer].total_bytes
                                                             : layouts_[layer].read_bytes;
  s.load.request_s = now_seconds();
  io_queue_.push_back(slot);
  io_cv_.notify_one();
}

// Keeps up to `prefetch` upcoming streamed layers loading or loaded, in the order the
// executor will ask for them (wrapping to the next token's first layers).
void StreamingStore::pump_locked() {
  const int lookahead = plan_.prefetch;
  for (;;) {
    int pending = 0, free_slot = -1;
    for (size_t i = 0; i < slots_.size(); ++i) {
      SlotState st = slots_[i].state;
      if (st == SlotState::kLoading || st == SlotState::kCopying || st == SlotState::kReady)
        ++pending;
      if (st == SlotState::kFree && free_slot < 0) free_slot = static_cast<int>(i);
    }
    if (pending >= lookahead || free_slot < 0) return;
    const int64_t layer = streamed_[next_];
    if (find_slot_locked(layer) >= 0) return;  // already here: the ring has wrapped
    schedule_locked(layer, free_slot);
    next_ = (next_ + 1) % streamed_.size();
  }
}

Result<const LayerWeights*> StreamingStore::acquire(int64_t layer) {
  if (plan_.layer_tier[layer] == Tier::kDevice || plan_.streams_experts(layer))
    return &resident_views_[layer];
  std::unique_lock<std::mutex> lock(mu_);
  const double t0 = now_seconds();
  int slot = find_slot_locked(layer);
  if (slot < 0) {
    // Not prefetched (prefetch 0, or the executor jumped): load it now into a free slot,
    // dropping a prefetched layer if every slot is taken.
    for (;;) {
      for (size_t i = 0; i < slots_.size() && slot < 0; ++i) {
        if (slots_[i].state == SlotState::kFree) slot = static_cast<int>(i);
      }
      for (size_t i = 0; i < slots_.size() && slot < 0; ++i) {
        if (slots_[i].state == SlotState::kReady || slots_[i].state == SlotState::kFailed) {
          slot = static_cast<int>(i);
          slots_[i].state = SlotState::kFree;
        }
      }
      if (slot >= 0) break;
      bool any_busy = false;
      for (const Slot& s : slots_)
        any_busy |= s.state == SlotState::kLoading || s.state == SlotState::kCopying;
      if (!any_busy) return Status::errorf("layer {}: every streaming slot is in use", layer);
      cv_.wait(lock);
    }
    schedule_locked(layer, slot);
    next_ = (static_cast<size_t>(stream_pos_[layer]) + 1) % streamed_.size();
  }
  Slot& s = slots_[slot];
  cv_.wait(lock,
           [&] { return s.state == SlotState::kReady || s.state == SlotState::kFailed || stop_; });
  const double waited = now_seconds() - t0;
  if (s.state != SlotState::kReady) {
    Status err = s.state == SlotState::kFailed ? s.error : Status::error("store is shutting down");
    s.state = SlotState::kFree;
    s.layer = -1;
    return err;
  }
  s.state = SlotState::kInUse;
  s.load.stall_s = waited;
  loads_.push_back(s.load);
  pump_locked();
  return &s.views;
}

void StreamingStore::release(int64_t layer) {
  if (plan_.layer_tier[layer] == Tier::kDevice || plan_.streams_experts(layer)) return;
  std::lock_guard<std::mutex> lock(mu_);
  int slot = find_slot_locked(layer);
  if (slot < 0) return;
  // On a GPU the compute reading this slot may still be queued: copies into the slot must
  // wait for it (CPU and simulated devices return a completed event).
  auto done = device_.record_compute();
  if (!done) {
    slots_[slot].state = SlotState::kFailed;
    slots_[slot].error = done.status();
    return;
  }
  slots_[slot].compute_done = std::move(done).value();
  slots_[slot].state = SlotState::kFree;
  slots_[slot].layer = -1;
  pump_locked();
}

std::vector<LayerLoad> StreamingStore::take_loads() {
  std::vector<LayerLoad> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(loads_);
  }
  if (expert_cache_) {
    std::vector<LayerLoad> e = expert_cache_->take_loads();
    out.insert(out.end(), e.begin(), e.end());
  }
  if (head_stream_) {
    std::vector<LayerLoad> h = head_stream_->take_loads();
    out.insert(out.end(), h.begin(), h.end());
  }
  return out;
}

Status StreamingStore::embedding_rows(std::span<const int32_t> ids, float* out) {
  if (!embd_rows_) return WeightStore::embedding_rows(ids, out);
  return embd_rows_->read(ids, out);
}

ExpertCacheStats StreamingStore::take_expert_stats() {
  return expert_cache_ ? expert_cache_->take_stats() : ExpertCacheStats{};
}

void StreamingStore::io_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    io_cv_.wait(lock, [&] { return stop_ || !io_queue_.empty(); });
    if (stop_) return;
    const int slot = io_queue_.front();
    io_queue_.pop_front();
    Slot& s = slots_[slot];
    const int64_t layer = s.layer;
    const LayerLayout& layout = layouts_[layer];
    const Tier tier = plan_.layer_tier[layer];
    s.load.start_s = now_seconds();
    lock.unlock();
    // The slot is ours (state kLoading) until we publish a new state under the lock.
    Status st = Status::ok();
    Result<std::shared_ptr<DeviceEvent>> ev = std::shared_ptr<DeviceEvent>();
    if (s.compute_done) {
      // The slot's last reader must be done before new bytes land in it: a copy waits on the
      // copy stream, a disk read straight into host-visible device memory waits here.
      const bool direct_read = tier != Tier::kHost && device_.shares_host_memory();
      st = direct_read ? s.compute_done->synchronize() : device_.copy_wait(*s.compute_done);
      s.compute_done.reset();
    }
    if (st && tier == Tier::kHost) {
      ev = device_.copy_to_device_async(s.device_mem, host_tier_[layer], layout.total_bytes);
    } else if (st && device_.shares_host_memory()) {
      st = read_layout(layout, layer, s.device_mem);
    } else if (st) {
      st = read_layout(layout, layer, s.staging);
      if (st) ev = device_.copy_to_device_async(s.device_mem, s.staging, layout.total_bytes);
    }
    if (st && !ev) st = ev.status();
    lock.lock();
    if (!st) {
      s.state = SlotState::kFailed;
      s.error = st;
      cv_.notify_all();
    } else if (*ev) {
      s.event = *ev;
      s.state = SlotState::kCopying;
      copy_queue_.push_back(slot);
      done_cv_.notify_one();
    } else {
      layout_views(layout, s.device_mem, &s.views);
      s.load.ready_s = now_seconds();
      s.state = SlotState::kReady;
      cv_.notify_all();
    }
  }
}

void StreamingStore::completion_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    done_cv_.wait(lock, [&] { return stop_ || !copy_queue_.empty(); });
    if (stop_) return;
    const int slot = copy_queue_.front();
    copy_queue_.pop_front();
    std::shared_ptr<DeviceEvent> ev = slots_[slot].event;
    lock.unlock();
    Status st = ev->synchronize();
    lock.lock();
    Slot& s = slots_[slot];
    if (!st) {
      s.state = SlotState::kFailed;
      s.error = st;
    } else {
      layout_views(layouts_[s.layer], s.device_mem, &s.views);
      s.load.ready_s = now_seconds();
      s.state = SlotState::kReady;
    }
    cv_.notify_all();
  }
}

}  // namespace strata
