#include "runtime/kv_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace strata {

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::kF16:
      return "f16";
    case KvType::kF32:
      return "f32";
    case KvType::kQ8_0:
      return "q8_0";
  }
  return "?";
}

DType kv_dtype(KvType t) {
  switch (t) {
    case KvType::kF32:
      return DType::kF32;
    case KvType::kQ8_0:
      return DType::kQ8_0;
    case KvType::kF16:
      break;
  }
  return DType::kF16;
}

Status check_kv_type(const ModelConfig& c, KvType t) {
  if (t == KvType::kQ8_0 && c.head_dim % 32 != 0) {
    return Status::errorf(
        "--kv-type q8_0 needs a head dimension that is a multiple of 32; this "
        "model's is {} (use f16 or f32)",
        c.head_dim);
  }
  return Status::ok();
}

namespace {
char* map_bytes(size_t bytes) {
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  STRATA_CHECK(m != MAP_FAILED, "cannot map {} bytes for the KV cache", bytes);
  return static_cast<char*>(m);
}
}  // namespace

uint64_t KvCache::max_bytes(const ModelConfig& c, int64_t n_ctx, KvType type) {
  return 2ull * c.n_layer * n_ctx *
         static_cast<uint64_t>(strata::row_bytes(kv_dtype(type), c.kv_dim()));
}

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, KvType type)
    : n_ctx_(n_ctx),
      kv_dim_(c.kv_dim()),
      dtype_(kv_dtype(type)),
      row_bytes_(strata::row_bytes(dtype_, c.kv_dim())) {
  STRATA_CHECK(check_kv_type(c, type).is_ok(), "KV type {} does not fit head_dim {}",
               kv_type_name(type), c.head_dim);
  map_bytes_ = std::max<size_t>(max_bytes(c, n_ctx, type) / 2, 1);
  k_ = map_bytes(map_bytes_);
  v_ = map_bytes(map_bytes_);
}

KvCache::~KvCache() {
  ::munmap(k_, map_bytes_);
  ::munmap(v_, map_bytes_);
}

void KvCache::store(int64_t layer, int64_t pos, const float* k, const float* v) {
  if (dtype_ == DType::kF32) {
    std::memcpy(this->k(layer, pos), k, kv_dim_ * sizeof(float));
    std::memcpy(this->v(layer, pos), v, kv_dim_ * sizeof(float));
    return;
  }
  const TypeTraits& t = type_traits(dtype_);
  t.from_float(k, this->k(layer, pos), kv_dim_);
  t.from_float(v, this->v(layer, pos), kv_dim_);
}

}  // namespace strata
