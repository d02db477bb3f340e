#include "store/weight_store.h"

#include "backend/device.h"
#include "store/streaming_store.h"

namespace strata {

namespace {

// Owns a CPU device and an all-resident StreamingStore over it.
class ResidentStore final : public WeightStore {
 public:
  Status init(const ModelSource& model) {
    device_ = make_cpu_device();
    PlacementOptions po;
    po.gpu_layers = model.config.n_layer;
    po.io.direct = false;
    STRATA_ASSIGN_OR_RETURN(store_, StreamingStore::create(model, po, *device_, 0));
    return Status::ok();
  }
  ~ResidentStore() override { store_.reset(); }
  Result<const LayerWeights*> acquire(int64_t layer) override { return store_->acquire(layer); }
  void release(int64_t layer) override { store_->release(layer); }
  const GlobalWeights& globals() const override { return store_->globals(); }

 private:
  std::unique_ptr<Device> device_;
  std::unique_ptr<StreamingStore> store_;
};

}  // namespace

Result<std::unique_ptr<WeightStore>> make_resident_store(const ModelSource& model) {
  auto store = std::make_unique<ResidentStore>();
  STRATA_TRY(store->init(model));
  return std::unique_ptr<WeightStore>(std::move(store));
}

}  // namespace strata
