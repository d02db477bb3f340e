#pragma once
// Internal: Unicode data for NFC, generated into nfc_tables.cpp by nfc_tables_gen.py. All
// tables are sorted by their first field.

#include <cstddef>
#include <cstdint>

namespace strata::nfc_data {

struct CccRange {
  uint32_t first, last;
  uint8_t ccc;  // canonical combining class, non-zero
};
struct Range {
  uint32_t first, last;
};
struct Decomposition {
  uint32_t cp, first, second;  // second == 0: a singleton decomposition
};
struct Composition {
  uint32_t first, second, composite;  // primary composites only (no exclusions)
};

extern const CccRange kCcc[];
extern const size_t kCccCount;
// Code points that may change under NFC or combine with a neighbour (NFC_QC No or Maybe,
// combining marks, conjoining jamo). Text without any is already in NFC.
extern const Range kMaybeUnstable[];
extern const size_t kMaybeUnstableCount;
extern const Decomposition kDecomp[];
extern const size_t kDecompCount;
extern const Composition kCompose[];
extern const size_t kComposeCount;

}  // namespace strata::nfc_data
