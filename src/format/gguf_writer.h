#pragma once
// GGUF v3 writer, for make-model, convert and tests. Writes atomically.

#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/file.h"
#include "core/status.h"
#include "format/metadata.h"

namespace strata {

// Collects metadata and tensors, then writes them in one pass. Tensor data is produced by
// a callback at write time so multi-GB files never sit in memory. Not thread-safe.
class GgufWriter {
 public:
  // Writes exactly the tensor's byte size to the writer.
  using DataFn = std::function<Status(AtomicFileWriter&)>;

  void set(const std::string& key, MetaValue value);
  // `shape` is row-major, outermost first ([n_out, n_in] for a weight).
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, DataFn data);
  // Convenience: converts `values` (n_elements floats) to `dtype`.
  void add_tensor_f32(std::string name, DType dtype, std::vector<int64_t> shape,
                      std::vector<float> values);

  Status write(const std::string& path, uint32_t alignment = 32) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    DataFn data;
  };
  std::vector<std::pair<std::string, MetaValue>> kv_;
  std::vector<Tensor> tensors_;
};

// Converts floats to `dtype` bytes (the type table's reference quantizer for block types),
// appending to `out`. `n` must be whole blocks of `dtype`.
void encode_floats(const float* src, size_t n, DType dtype, std::string* out);

}  // namespace strata
