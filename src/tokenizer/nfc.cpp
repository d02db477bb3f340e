#include "tokenizer/nfc.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokenizer/nfc_tables.h"
#include "tokenizer/utf8.h"

namespace strata {
namespace {

using namespace nfc_data;

// Hangul syllables compose and decompose algorithmically (Unicode ch. 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t ccc_of(uint32_t cp) {
  if (cp < 0x300) return 0;
  const CccRange* end = kCcc + kCccCount;
  const CccRange* it =
      std::upper_bound(kCcc, end, cp, [](uint32_t c, const CccRange& r) { return c < r.first; });
  if (it == kCcc) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

bool maybe_unstable(uint32_t cp) {
  if (cp < 0x300) return false;
  const Range* end = kMaybeUnstable + kMaybeUnstableCount;
  const Range* it = std::upper_bound(kMaybeUnstable, end, cp,
                                     [](uint32_t c, const Range& r) { return c < r.first; });
  if (it == kMaybeUnstable) return false;
  --it;
  return cp <= it->last;
}

void decompose(uint32_t cp, std::vector<uint32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xC0) {
    const Decomposition* end = kDecomp + kDecompCount;
    const Decomposition* it = std::lower_bound(
        kDecomp, end, cp, [](const Decomposition& d, uint32_t c) { return d.cp < c; });
    if (it != end && it->cp == cp) {
      decompose(it->first, out);
      if (it->second != 0) decompose(it->second, out);
      return;
    }
  }
  out->push_back(cp);
}

// The primary composite of (a, b), or 0.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const Composition* end = kCompose + kComposeCount;
  const Composition* it =
      std::lower_bound(kCompose, end, std::make_pair(a, b), [](const Composition& c, auto key) {
        return c.first < key.first || (c.first == key.first && c.second < key.second);
      });
  return (it != end && it->first == a && it->second == b) ? it->composite : 0;
}

// NFC of a run of valid UTF-8.
void normalize_valid(std::string_view text, std::string* out) {
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8::valid_sequence_len(text, i);
    decompose(utf8::decode(text, i, n), &cps);
    i += n;
  }
  // Canonical ordering: stable-sort each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (ccc_of(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc_of(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t a, uint32_t b) { return ccc_of(a) < ccc_of(b); });
    i = j;
  }
  // Canonical composition.
  size_t starter = SIZE_MAX;  // index in the output of the last starter
  int last_ccc = -1;          // ccc of the last character kept after the starter
  size_t w = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const int ccc = ccc_of(cp);
    if (starter != SIZE_MAX && (last_ccc < ccc || (last_ccc == 0 && w == starter + 1))) {
      if (uint32_t c = compose_pair(cps[starter], cp); c != 0) {
        cps[starter] = c;
        continue;
      }
    }
    if (ccc == 0) {
      starter = w;
      last_ccc = 0;
    } else {
      last_ccc = ccc;
    }
    cps[w++] = cp;
  }
  cps.resize(w);
  for (uint32_t cp : cps) utf8::append(out, cp);
}

}  // namespace

bool nfc_quick_check(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<uint8_t>(text[i]) < 0xCC) {  // below U+0300 (and stray bytes)
      ++i;
      continue;
    }
    const size_t n = utf8::valid_sequence_len(text, i);
    if (n == 0) {
      ++i;
      continue;
    }
    if (maybe_unstable(utf8::decode(text, i, n))) return false;
    i += n;
  }
  return true;
}

std::string nfc_normalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t run = 0;  // start of the current valid run
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8::valid_sequence_len(text, i);
    if (n != 0) {
      i += n;
      continue;
    }
    normalize_valid(text.substr(run, i - run), &out);
    out.push_back(text[i]);
    run = ++i;
  }
  normalize_valid(text.substr(run), &out);
  return out;
}

}  // namespace strata
