#include "runtime/kv_cache.h"

#include <sys/mman.h>

#include <algorithm>

#include "core/check.h"

namespace strata {

namespace {
float* map_floats(size_t bytes) {
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  STRATA_CHECK(m != MAP_FAILED, "cannot map {} bytes for the KV cache", bytes);
  return static_cast<float*>(m);
}
}  // namespace

uint64_t KvCache::max_bytes(const ModelConfig& c, int64_t n_ctx) {
  return 2ull * c.n_layer * n_ctx * c.kv_dim() * sizeof(float);
}

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx) : n_ctx_(n_ctx), kv_dim_(c.kv_dim()) {
  map_bytes_ = std::max<size_t>(max_bytes(c, n_ctx) / 2, 1);
  k_ = map_floats(map_bytes_);
  v_ = map_floats(map_bytes_);
}

KvCache::~KvCache() {
  ::munmap(k_, map_bytes_);
  ::munmap(v_, map_bytes_);
}

}  // namespace strata
