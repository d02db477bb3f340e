#pragma once
// How one layer's tensors sit in a file and in a slot. A layer is read as a few large aligned
// extents (its tensors' byte ranges, merged across small gaps, widened to 4 KiB boundaries for
// direct I/O) and lands in a slot at the same relative positions, so tensor views point
// straight into the read buffer with no copy. 1-D tensors stored as F16/BF16 (norms, biases)
// are widened to F32 into a side area after the read, and a tensor whose file offset is not a
// multiple of its element size (a safetensors header of odd length) is copied there too, so
// no kernel ever loads a misaligned element.

#include <cstdint>
#include <vector>

#include "format/tensor_index.h"
#include "store/file_reader.h"
#include "store/weight_store.h"

namespace strata {

struct Extent {
  uint32_t file_index = 0;
  uint64_t file_offset = 0;  // 4096-aligned
  uint64_t nbytes = 0;       // 4096-aligned
  uint64_t slot_offset = 0;  // 4096-aligned
};

struct TensorPlace {
  const TensorInfo* info = nullptr;  // nullptr: absent optional tensor
  uint64_t slot_offset = 0;          // of the tensor's stored bytes
  bool widen = false;                // 1-D non-F32 (F16, BF16, quantized) -> F32 at side_offset
  bool realign = false;              // misaligned: its bytes copied to side_offset
  uint64_t side_offset = 0;
};

struct LayerLayout {
  std::vector<Extent> extents;
  std::vector<TensorPlace> tensors;  // indexed like the spec array (LayerTensor / GlobalTensor)
  uint64_t read_bytes = 0;           // sum of extents
  uint64_t total_bytes = 0;          // extents + side area: the slot size this layer needs
  uint64_t tensor_bytes = 0;         // sum of the tensors' own bytes

  // Layers whose tensors are scattered (reads would waste more than a quarter) stream badly.
  bool streams_well() const {
    return extents.size() <= 8 && read_bytes <= tensor_bytes * 5 / 4 + (256 << 10);
  }
};

// Bytes a direct-I/O read of [offset, offset + nbytes) covers: the range widened to 4 KiB
// boundaries.
uint64_t aligned_read_bytes(uint64_t offset, uint64_t nbytes);

// A read of bytes [offset, offset + nbytes) of file `file_index` with direct I/O into `buf`
// (4096-aligned, aligned_read_bytes() long). Once read, realign() moves the bytes to `data`,
// an address aligned for elements of `elem_align` bytes (a no-op unless the file offset was
// not).
struct AlignedRead {
  ReadRequest request;
  char* data = nullptr;
  char* landed = nullptr;
  uint64_t nbytes = 0;
  void realign() const;
};
AlignedRead aligned_read(uint32_t file_index, uint64_t offset, uint64_t nbytes, char* buf,
                         uint64_t elem_align);

// Lays out the tensors named by `specs` (missing optional tensors are skipped).
LayerLayout make_layer_layout(const TensorIndex& index, const TensorSpec* specs, int n_specs);

// Read requests that fill a buffer laid out as `layout` at `base` (4096-aligned).
std::vector<ReadRequest> layout_reads(const LayerLayout& layout, char* base);

// Widens 1-D F16/BF16 tensors and copies misaligned ones into the side area. Run on host
// memory after the read.
void finalize_layout(const LayerLayout& layout, char* base);

// Views of the tensors of a buffer laid out as `layout` at `base` (host or device memory).
// A tensor of more than two dimensions is a view of all its rows (stacked experts).
void layout_views(const LayerLayout& layout, const char* base, WeightView* views);
// The same into a layer's views: the fixed tensors, then any split experts' (tensor_spec.h).
void layout_views(const LayerLayout& layout, const char* base, LayerWeights* views);

}  // namespace strata
