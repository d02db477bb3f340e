#pragma once
// Layer packs: a streaming-friendly copy of a model's weights. Every layer's tensors are
// contiguous and 4 KiB-aligned in one data file (pack.bin), so streaming a layer is one large
// aligned read; a manifest (manifest.json) gives per-layer byte ranges and xxHash64
// checksums. Both files are written atomically, the manifest last, so an interrupted convert
// never leaves a pack that looks valid.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "format/tensor_index.h"

namespace strata {

struct ModelSource;

struct PackRegion {
  uint64_t offset = 0;  // in pack.bin, 4096-aligned
  uint64_t nbytes = 0;  // the tensors' bytes (without the alignment padding after them)
  uint64_t xxh64 = 0;   // XXH64 (seed 0) of those nbytes
};

struct LayerPack {
  std::string dir;
  std::string data_path;           // dir + "/pack.bin"
  TensorIndex index;               // GGUF-style names -> pack.bin offsets (files = {data_path})
  std::vector<PackRegion> layers;  // [n_layer]
  PackRegion globals;              // token_embd, output_norm, output, rope_freqs
};

// Writes `model`'s tensors into a pack in `dir` (created if missing). Progress: bytes, total.
[[nodiscard]] Status write_layer_pack(const ModelSource& model, const std::string& dir,
                                      const std::function<void(uint64_t, uint64_t)>& progress);

// Opens a pack and checks that it matches `model`: the same tensors with the same dtypes and
// shapes, and the source's identity recorded at convert time (file size). Errors name the
// manifest and what differs.
[[nodiscard]] Result<LayerPack> open_layer_pack(const std::string& dir, const ModelSource& model);

// Where strata writes a pack of `model` by itself (scattered layers, first streamed load):
// <cache_dir()>/packs/<file name>-<hash of the files' absolute paths, sizes and mtimes>, so a
// changed or moved model gets a new pack.
std::string auto_layer_pack_dir(const ModelSource& model);

// XXH64 (seed 0) of a buffer.
uint64_t xxh64_of(const void* data, uint64_t nbytes);

}  // namespace strata
