#pragma once
// One sequence's attention cache: K and V for every layer and position,
// [n_layer][n_ctx][kv_dim] each, in the cache's type (F16 by default, F32 or Q8_0: rows of
// kv_dim elements, row_bytes apart). Anonymous mappings with MAP_NORESERVE, so pages become
// resident only as positions are written: RSS grows with the tokens a session actually used,
// not with -c, and an idle session costs nothing.

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "model/config.h"
#include "strata/options.h"

namespace strata {

// The cache's element type for a KvType.
DType kv_dtype(KvType t);
// An error when the model's shape cannot hold `t` (Q8_0 needs head_dim a multiple of 32, so
// each head's slice of a row is whole blocks).
[[nodiscard]] Status check_kv_type(const ModelConfig& c, KvType t);

// Owned by one Session (or a Transformer used directly); not thread-safe. Not copyable.
class KvCache {
 public:
  // `type` must pass check_kv_type.
  KvCache(const ModelConfig& c, int64_t n_ctx, KvType type = KvType::kF16);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int64_t n_ctx() const { return n_ctx_; }
  DType dtype() const { return dtype_; }
  int64_t row_bytes() const { return row_bytes_; }  // one position's K (or V), all heads
  // Position `pos` of `layer`.
  char* k(int64_t layer, int64_t pos) const { return k_ + offset(layer, pos); }
  char* v(int64_t layer, int64_t pos) const { return v_ + offset(layer, pos); }
  // Stores one position's K and V (kv_dim floats each) in the cache's type.
  void store(int64_t layer, int64_t pos, const float* k, const float* v);
  // Bytes the cache can grow to (both K and V, every layer, n_ctx positions).
  static uint64_t max_bytes(const ModelConfig& c, int64_t n_ctx, KvType type);

 private:
  size_t offset(int64_t layer, int64_t pos) const {
    return (static_cast<size_t>(layer) * n_ctx_ + pos) * row_bytes_;
  }
  int64_t n_ctx_, kv_dim_;
  DType dtype_;
  int64_t row_bytes_;
  size_t map_bytes_ = 0;
  char* k_ = nullptr;
  char* v_ = nullptr;
};

}  // namespace strata
