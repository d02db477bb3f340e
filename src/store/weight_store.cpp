#include "store/weight_store.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/units.h"

namespace strata {

namespace {
constexpr uint64_t kTensorAlignBytes = 64;  // one cache line; AVX loads never straddle
}

AlignedBuffer::AlignedBuffer(uint64_t nbytes) : n_(nbytes) {
  if (nbytes == 0) return;
  p_ = static_cast<char*>(std::aligned_alloc(4096, align_up(nbytes, 4096)));
  if (!p_) throw std::bad_alloc();
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { std::free(p_); }

Result<TensorLoader> TensorLoader::open(const ModelSource& model) {
  TensorLoader l;
  l.model_ = &model;
  for (const std::string& path : model.index.files) {
    STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
    l.files_.push_back(std::move(f));
  }
  const ModelConfig& c = model.config;
  for (int64_t layer = 0; layer < c.n_layer; ++layer) {
    auto specs = layer_tensor_specs(c, layer);
    uint64_t total = 0;
    l.layers_.push_back(l.plan(specs.data(), kLayerTensorCount, &total));
    l.layer_bytes_.push_back(total);
  }
  auto gspecs = global_tensor_specs(c);
  l.globals_ = l.plan(gspecs.data(), kGlobalTensorCount, &l.globals_bytes_);
  return l;
}

std::vector<TensorLoader::Item> TensorLoader::plan(const TensorSpec* specs, int n,
                                                   uint64_t* total) const {
  std::vector<Item> items(n);
  uint64_t off = 0;
  for (int i = 0; i < n; ++i) {
    if (specs[i].name.empty()) continue;
    const TensorInfo* t = model_->index.find(specs[i].name);
    if (!t) continue;  // optional; required ones were validated when the model was opened
    items[i].info = t;
    items[i].buf_offset = off;
    // 1-D tensors are widened to F32 in place: reserve room for that.
    bool widen = t->shape.size() == 1 && t->dtype != DType::kF32;
    items[i].buf_bytes = widen ? static_cast<uint64_t>(t->n_elements()) * 4 : t->nbytes;
    off = align_up(off + std::max(items[i].buf_bytes, t->nbytes), kTensorAlignBytes);
  }
  *total = off;
  return items;
}

uint64_t TensorLoader::layer_bytes(int64_t layer) const { return layer_bytes_[layer]; }
uint64_t TensorLoader::globals_bytes() const { return globals_bytes_; }

Status TensorLoader::load_items(const std::vector<Item>& items, char* buf, WeightView* views) const {
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    views[i] = WeightView{};
    if (!it.info) continue;
    const TensorInfo& t = *it.info;
    char* dst = buf + it.buf_offset;
    STRATA_TRY(files_[t.file_index].read_at(t.offset, dst, t.nbytes));
    WeightView v;
    v.data = dst;
    v.dtype = *t.dtype;
    v.rows = t.shape.size() == 2 ? t.shape[0] : 1;
    v.cols = t.shape.back();
    if (t.shape.size() == 1 && v.dtype != DType::kF32) {
      // Widen back to front so the conversion can run in place.
      const uint16_t* src = reinterpret_cast<const uint16_t*>(dst);
      float* out = reinterpret_cast<float*>(dst);
      for (int64_t k = v.cols; k-- > 0;) {
        uint16_t h = src[k];
        out[k] = v.dtype == DType::kF16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      v.dtype = DType::kF32;
    }
    views[i] = v;
  }
  return Status::ok();
}

Status TensorLoader::load_layer(int64_t layer, char* buf, LayerWeights* out) const {
  return load_items(layers_[layer], buf, out->t.data());
}

Status TensorLoader::load_globals(char* buf, GlobalWeights* out) const {
  return load_items(globals_, buf, out->t.data());
}

namespace {

class ResidentStore final : public WeightStore {
 public:
  Status init(const ModelSource& model) {
    STRATA_ASSIGN_OR_RETURN(TensorLoader loader, TensorLoader::open(model));
    globals_buf_ = AlignedBuffer(loader.globals_bytes());
    STRATA_TRY(loader.load_globals(globals_buf_.data(), &globals_));
    const int64_t n_layer = model.config.n_layer;
    layer_bufs_.resize(n_layer);
    layers_.resize(n_layer);
    for (int64_t l = 0; l < n_layer; ++l) {
      layer_bufs_[l] = AlignedBuffer(loader.layer_bytes(l));
      STRATA_TRY(loader.load_layer(l, layer_bufs_[l].data(), &layers_[l]));
    }
    return Status::ok();
  }
  Result<const LayerWeights*> acquire(int64_t layer) override { return &layers_[layer]; }
  void release(int64_t) override {}
  const GlobalWeights& globals() const override { return globals_; }

 private:
  AlignedBuffer globals_buf_;
  GlobalWeights globals_;
  std::vector<AlignedBuffer> layer_bufs_;
  std::vector<LayerWeights> layers_;
};

}  // namespace

Result<std::unique_ptr<WeightStore>> make_resident_store(const ModelSource& model) {
  auto store = std::make_unique<ResidentStore>();
  STRATA_TRY(store->init(model));
  return std::unique_ptr<WeightStore>(std::move(store));
}

}  // namespace strata
