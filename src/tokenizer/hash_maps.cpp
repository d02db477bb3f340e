#include "tokenizer/hash_maps.h"

#include <bit>

namespace strata {

void StringIdMap::reserve(size_t n_keys) {
  const size_t want = std::bit_ceil(n_keys * 2 + 16);
  if (want <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(want, Slot{});
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    size_t i = s.hash & (slots_.size() - 1);
    while (slots_[i].id >= 0) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = s;
  }
}

void StringIdMap::grow() { reserve(slots_.empty() ? 16 : slots_.size()); }

bool StringIdMap::insert(std::string_view key, int32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(key);
  size_t i = h & (slots_.size() - 1);
  for (;;) {
    Slot& s = slots_[i];
    if (s.id < 0) break;
    if (s.hash == h && s.len == key.size() &&
        std::string_view(pool_.data() + s.offset, s.len) == key) {
      return false;
    }
    i = (i + 1) & (slots_.size() - 1);
  }
  Slot& s = slots_[i];
  s.hash = h;
  s.offset = static_cast<uint32_t>(pool_.size());
  s.len = static_cast<uint32_t>(key.size());
  s.id = id;
  pool_.append(key);
  ++size_;
  return true;
}

int32_t StringIdMap::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t h = hash_bytes(key);
  size_t i = h & (slots_.size() - 1);
  for (;;) {
    const Slot& s = slots_[i];
    if (s.id < 0) return -1;
    if (s.hash == h && s.len == key.size() &&
        std::memcmp(pool_.data() + s.offset, key.data(), key.size()) == 0) {
      return s.id;
    }
    i = (i + 1) & (slots_.size() - 1);
  }
}

void PairMergeMap::reserve(size_t n_pairs) {
  const size_t want = std::bit_ceil(n_pairs * 2 + 16);
  if (want <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(want, Slot{});
  for (const Slot& s : old) {
    if (s.merge.rank < 0) continue;
    size_t i = mix(s.key) & (slots_.size() - 1);
    while (slots_[i].merge.rank >= 0) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = s;
  }
}

void PairMergeMap::grow() { reserve(slots_.empty() ? 16 : slots_.size()); }

bool PairMergeMap::insert(int32_t left, int32_t right, Merge m) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = pack(left, right);
  size_t i = mix(key) & (slots_.size() - 1);
  for (;;) {
    Slot& s = slots_[i];
    if (s.merge.rank < 0) break;
    if (s.key == key) return false;
    i = (i + 1) & (slots_.size() - 1);
  }
  slots_[i].key = key;
  slots_[i].merge = m;
  ++size_;
  return true;
}

}  // namespace strata
