#pragma once
// The format-neutral tensor index every parser produces: where each tensor's bytes live.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"

namespace strata {

struct TensorInfo {
  std::string name;
  std::optional<DType> dtype;   // nullopt: a type strata does not compute with (yet)
  std::string dtype_name;       // as the file calls it, e.g. "F16", "Q4_K"
  std::vector<int64_t> shape;   // row-major, outermost first: a weight is [n_out, n_in]
  uint32_t file_index = 0;      // into TensorIndex::files
  uint64_t offset = 0;          // absolute byte offset in that file
  uint64_t nbytes = 0;

  int64_t n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// All tensors of a model, across its files. Names are unique.
class TensorIndex {
 public:
  std::vector<std::string> files;  // paths

  // Returns false if the name is already there.
  bool add(TensorInfo t);
  const TensorInfo* find(const std::string& name) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  size_t size() const { return tensors_.size(); }
  uint64_t total_bytes() const;

 private:
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> by_name_;
};

std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace strata
