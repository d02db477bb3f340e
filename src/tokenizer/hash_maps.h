#pragma once
// Open-addressing hash maps for the tokenizer hot paths: string -> token id and
// (left id, right id) -> merge. A lookup is one hash and usually one probe; std::unordered_map
// costs a node allocation per entry and a pointer chase per lookup, ~3x slower here.
// Both are built once, then read-only: const lookups are thread-safe.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

inline uint64_t hash_bytes(std::string_view s) {
  // 64-bit multiply-mix over 8-byte words; good enough dispersion for token strings.
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x243F6A8885A308D3ull ^ (s.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  if (i < s.size()) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  h *= kMul;
  return h ^ (h >> 32);
}

// Maps byte strings to int32 ids. Keys are copied into an internal pool.
class StringIdMap {
 public:
  void reserve(size_t n_keys);
  // Inserts `key` -> `id`; returns false (and keeps the old id) if `key` is present.
  bool insert(std::string_view key, int32_t id);
  // The id of `key`, or -1.
  int32_t find(std::string_view key) const;
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0, len = 0;
    int32_t id = -1;  // -1: empty
  };
  void grow();
  std::string pool_;
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// Maps a pair of token ids to the merge they form: its rank (lower merges first) and the
// id of the merged token.
class PairMergeMap {
 public:
  struct Merge {
    int32_t rank = -1;  // -1: no such merge
    int32_t merged_id = -1;
  };
  void reserve(size_t n_pairs);
  // Returns false (and keeps the earlier, lower rank) if the pair is present.
  bool insert(int32_t left, int32_t right, Merge m);
  Merge find(int32_t left, int32_t right) const {
    if (slots_.empty()) return {};
    const uint64_t key = pack(left, right);
    size_t i = mix(key) & (slots_.size() - 1);
    for (;;) {
      const Slot& s = slots_[i];
      if (s.merge.rank < 0) return {};
      if (s.key == key) return s.merge;
      i = (i + 1) & (slots_.size() - 1);
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    Merge merge;
  };
  static uint64_t pack(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return k;
  }
  void grow();
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace strata
