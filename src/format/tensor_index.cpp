#include "format/tensor_index.h"

namespace strata {

bool TensorIndex::add(TensorInfo t) {
  auto [it, inserted] = by_name_.emplace(t.name, tensors_.size());
  if (!inserted) return false;
  tensors_.push_back(std::move(t));
  return true;
}

const TensorInfo* TensorIndex::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

uint64_t TensorIndex::total_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n += t.nbytes;
  return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace strata
