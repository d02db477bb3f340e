#include "format/safetensors_writer.h"

#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "format/gguf_writer.h"  // encode_floats
#include "format/safetensors.h"
#include "format/tensor_index.h"

namespace strata {
namespace {

// Byte size of a tensor, or nullopt if the dtype is unknown, a dim negative or the size
// overflows.
std::optional<uint64_t> tensor_bytes(const std::string& dtype_name,
                                     const std::vector<int64_t>& shape) {
  std::optional<uint32_t> bits = safetensors_dtype_bits(dtype_name);
  if (!bits) return std::nullopt;
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / 64 / static_cast<uint64_t>(d)) {
      return std::nullopt;
    }
    n *= static_cast<uint64_t>(d);
  }
  if (n * *bits % 8 != 0) return std::nullopt;
  return n * *bits / 8;
}

}  // namespace

void SafetensorsWriter::set_metadata(const std::string& key, std::string value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void SafetensorsWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                                   DataFn data) {
  tensors_.push_back(
      {std::move(name), std::string(dtype_name(dtype)), std::move(shape), std::move(data)});
}

void SafetensorsWriter::add_tensor_f32(std::string name, DType dtype, std::vector<int64_t> shape,
                                       std::vector<float> values) {
  auto bytes = std::make_shared<std::string>();
  encode_floats(values.data(), values.size(), dtype, bytes.get());
  add_tensor(std::move(name), dtype, std::move(shape),
             [bytes](AtomicFileWriter& w) { return w.write(bytes->data(), bytes->size()); });
}

void SafetensorsWriter::add_tensor_raw(std::string name, std::string dtype_name,
                                       std::vector<int64_t> shape, std::string bytes) {
  auto shared = std::make_shared<std::string>(std::move(bytes));
  tensors_.push_back(
      {std::move(name), std::move(dtype_name), std::move(shape),
       [shared](AtomicFileWriter& w) { return w.write(shared->data(), shared->size()); }});
}

uint64_t SafetensorsWriter::total_tensor_bytes() const {
  uint64_t n = 0;
  for (const Tensor& t : tensors_) n += tensor_bytes(t.dtype_name, t.shape).value_or(0);
  return n;
}

Status SafetensorsWriter::validate() const {
  std::set<std::string_view> names;
  for (const Tensor& t : tensors_) {
    if (t.name == "__metadata__") {
      return Status::error("safetensors writer: '__metadata__' is reserved, not a tensor name");
    }
    if (!names.insert(t.name).second) {
      return Status::errorf("safetensors writer: tensor '{}' added twice", t.name);
    }
    if (!tensor_bytes(t.dtype_name, t.shape)) {
      return Status::errorf(
          "safetensors writer: tensor '{}' has an unknown dtype '{}' or a bad shape {}", t.name,
          t.dtype_name, shape_to_string(t.shape));
    }
  }
  return Status::ok();
}

Status SafetensorsWriter::write_file(const std::string& path, size_t begin, size_t end) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t rel = 0;
  for (size_t i = begin; i < end; ++i) {
    const Tensor& t = tensors_[i];
    const uint64_t nbytes = *tensor_bytes(t.dtype_name, t.shape);
    header[t.name] = {
        {"dtype", t.dtype_name}, {"shape", t.shape}, {"data_offsets", {rel, rel + nbytes}}};
    rel += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a name
    return Status::errorf("{}: cannot encode the header: {}", path, e.what());
  }
  // Pad so that 8 + N is a multiple of 8: the data section starts 8-byte aligned.
  text.resize((text.size() + 7) / 8 * 8, ' ');

  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::create(path));
  const uint64_t header_bytes = text.size();
  STRATA_TRY(w.write(&header_bytes, 8));
  STRATA_TRY(w.write(text.data(), text.size()));
  for (size_t i = begin; i < end; ++i) {
    const Tensor& t = tensors_[i];
    const uint64_t nbytes = *tensor_bytes(t.dtype_name, t.shape);
    const uint64_t before = w.bytes_written();
    STRATA_TRY(t.data(w));
    if (w.bytes_written() - before != nbytes) {
      return Status::errorf("{}: tensor '{}' wrote {} bytes, expected {}", path, t.name,
                            w.bytes_written() - before, nbytes);
    }
  }
  return w.commit();
}

Status SafetensorsWriter::write(const std::string& path) const {
  STRATA_TRY(validate().with_context(path));
  return write_file(path, 0, tensors_.size());
}

Status SafetensorsWriter::write_sharded(const std::string& dir, uint64_t max_shard_bytes) const {
  STRATA_TRY(validate().with_context(dir));
  if (tensors_.empty()) return Status::errorf("{}: no tensors to write", dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::errorf("{}: cannot create directory: {}", dir, ec.message());

  // Greedy, in order: a shard closes when the next tensor would take it past the limit.
  std::vector<size_t> starts;  // first tensor of each shard
  uint64_t shard_bytes = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const uint64_t nbytes = *tensor_bytes(tensors_[i].dtype_name, tensors_[i].shape);
    if (starts.empty() || (shard_bytes > 0 && shard_bytes + nbytes > max_shard_bytes)) {
      starts.push_back(i);
      shard_bytes = 0;
    }
    shard_bytes += nbytes;
  }
  const size_t n_shards = starts.size();
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < n_shards; ++s) {
    const std::string name = fmt::format("model-{:05}-of-{:05}.safetensors", s + 1, n_shards);
    const size_t end = s + 1 < n_shards ? starts[s + 1] : tensors_.size();
    STRATA_TRY(write_file(dir + "/" + name, starts[s], end));
    for (size_t i = starts[s]; i < end; ++i) weight_map[tensors_[i].name] = name;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total_tensor_bytes()}}},
                          {"weight_map", std::move(weight_map)}};
  return write_json_file(dir + "/model.safetensors.index.json", index);
}

Status write_json_file(const std::string& path, const nlohmann::json& j) {
  std::string text;
  try {
    text = j.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    return Status::errorf("{}: cannot encode JSON: {}", path, e.what());
  }
  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::create(path));
  STRATA_TRY(w.write(text.data(), text.size()));
  return w.commit();
}

}  // namespace strata
