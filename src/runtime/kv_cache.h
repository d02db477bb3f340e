#pragma once
// One sequence's attention cache: K and V for every layer and position, F32,
// [n_layer][n_ctx][kv_dim] each. Anonymous mappings with MAP_NORESERVE, so
// pages become resident only as positions are written: RSS grows with the
// tokens a session actually used, not with -c, and an idle session costs
// nothing.

#include <cstddef>
#include <cstdint>

#include "model/config.h"

namespace strata {

// Owned by one Session (or a Transformer used directly); not thread-safe. Not
// copyable.
class KvCache {
 public:
  KvCache(const ModelConfig& c, int64_t n_ctx);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int64_t n_ctx() const { return n_ctx_; }
  float* k(int64_t layer) const { return k_ + static_cast<size_t>(layer) * n_ctx_ * kv_dim_; }
  float* v(int64_t layer) const { return v_ + static_cast<size_t>(layer) * n_ctx_ * kv_dim_; }
  // Bytes the cache can grow to (both K and V, every layer, n_ctx positions).
  static uint64_t max_bytes(const ModelConfig& c, int64_t n_ctx);

 private:
  int64_t n_ctx_, kv_dim_;
  size_t map_bytes_ = 0;
  float* k_ = nullptr;
  float* v_ = nullptr;
};

}  // namespace strata
