#pragma once
// Safetensors writer, one file or a sharded Hugging Face layout, for converters and tests
// (random-weight model directories). Every file is written atomically.

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/file.h"
#include "core/status.h"

namespace strata {

// Collects tensors and "__metadata__", then writes them in one pass. Tensor data comes from
// a callback at write time so large files never sit in memory; the callbacks run once per
// write() / write_sharded(). Tensors are laid out contiguously in the order added. Not
// thread-safe.
class SafetensorsWriter {
 public:
  // Writes exactly the tensor's byte size to the writer.
  using DataFn = std::function<Status(AtomicFileWriter&)>;

  void set_metadata(const std::string& key, std::string value);
  // `shape` is row-major, outermost first ([n_out, n_in] for a weight).
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, DataFn data);
  // Convenience: converts `values` (n_elements floats) to `dtype`.
  void add_tensor_f32(std::string name, DType dtype, std::vector<int64_t> shape,
                      std::vector<float> values);
  // Any safetensors dtype by name ("I64", "F8_E4M3", ...), e.g. to test that a loader
  // rejects it; `bytes` must be exactly the tensor's size.
  void add_tensor_raw(std::string name, std::string dtype_name, std::vector<int64_t> shape,
                      std::string bytes);

  size_t tensor_count() const { return tensors_.size(); }
  // Sum of the tensors' byte sizes (unknown dtypes count 0; write() rejects them).
  uint64_t total_tensor_bytes() const;

  // One file; the header is padded with spaces so the data starts at a multiple of 8.
  Status write(const std::string& path) const;

  // Hugging Face shards in `dir` (created if missing): model-00001-of-0000N.safetensors,
  // each holding consecutive tensors up to `max_shard_bytes` of data (a larger tensor gets a
  // shard of its own), every shard with the same "__metadata__", and
  // model.safetensors.index.json mapping each tensor to its shard. Writes the index even for
  // one shard. Does not remove other files in `dir`.
  Status write_sharded(const std::string& dir, uint64_t max_shard_bytes) const;

 private:
  struct Tensor {
    std::string name;
    std::string dtype_name;
    std::vector<int64_t> shape;
    DataFn data;
  };
  Status validate() const;
  Status write_file(const std::string& path, size_t begin, size_t end) const;

  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<Tensor> tensors_;
};

// Writes `j` (pretty-printed, 2-space indent, trailing newline) to `path` atomically: for
// config.json and friends in test model directories.
Status write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace strata
