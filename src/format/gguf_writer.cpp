#include "format/gguf_writer.h"

#include "core/units.h"

namespace strata {
namespace {

uint32_t ggml_type_of(DType t) { return static_cast<uint32_t>(t); }

void put_bytes(std::string* out, const void* p, size_t n) {
  out->append(static_cast<const char*>(p), n);
}
template <typename T>
void put(std::string* out, T v) {
  put_bytes(out, &v, sizeof(T));
}
void put_string(std::string* out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out->append(s);
}

void put_value(std::string* out, const MetaValue& v) {
  switch (v.type) {
    case MetaType::kU8: put<uint8_t>(out, static_cast<uint8_t>(v.u)); break;
    case MetaType::kI8: put<int8_t>(out, static_cast<int8_t>(v.i)); break;
    case MetaType::kU16: put<uint16_t>(out, static_cast<uint16_t>(v.u)); break;
    case MetaType::kI16: put<int16_t>(out, static_cast<int16_t>(v.i)); break;
    case MetaType::kU32: put<uint32_t>(out, static_cast<uint32_t>(v.u)); break;
    case MetaType::kI32: put<int32_t>(out, static_cast<int32_t>(v.i)); break;
    case MetaType::kU64: put<uint64_t>(out, v.u); break;
    case MetaType::kI64: put<int64_t>(out, v.i); break;
    case MetaType::kF32: put<float>(out, static_cast<float>(v.f)); break;
    case MetaType::kF64: put<double>(out, v.f); break;
    case MetaType::kBool: put<uint8_t>(out, v.u ? 1 : 0); break;
    case MetaType::kString: put_string(out, v.s); break;
    case MetaType::kArray:
      put<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
      put<uint64_t>(out, v.arr.size());
      for (const auto& e : v.arr) put_value(out, e);
      break;
  }
}

// Bytes of a tensor: rows of shape[last] elements (GGUF's ne[0]).
uint64_t tensor_bytes(DType dtype, const std::vector<int64_t>& shape) {
  uint64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= static_cast<uint64_t>(shape[i]);
  return shape.empty() ? 0 : rows * row_bytes(dtype, shape.back());
}

}  // namespace

void encode_floats(const float* src, size_t n, DType dtype, std::string* out) {
  const size_t at = out->size();
  out->resize(at + row_bytes(dtype, static_cast<int64_t>(n)));
  type_traits(dtype).from_float(src, out->data() + at, static_cast<int64_t>(n));
}

void GgufWriter::set(const std::string& key, MetaValue value) {
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, DataFn data) {
  tensors_.push_back({std::move(name), dtype, std::move(shape), std::move(data)});
}

void GgufWriter::add_tensor_f32(std::string name, DType dtype, std::vector<int64_t> shape,
                                std::vector<float> values) {
  auto bytes = std::make_shared<std::string>();
  encode_floats(values.data(), values.size(), dtype, bytes.get());
  add_tensor(std::move(name), dtype, std::move(shape),
             [bytes](AtomicFileWriter& w) { return w.write(bytes->data(), bytes->size()); });
}

Status GgufWriter::write(const std::string& path, uint32_t alignment) const {
  std::string header;
  put<uint32_t>(&header, 0x46554747);
  put<uint32_t>(&header, 3);
  put<uint64_t>(&header, tensors_.size());
  bool has_alignment_key = false;
  for (const auto& [k, v] : kv_) has_alignment_key |= (k == "general.alignment");
  put<uint64_t>(&header, kv_.size() + (has_alignment_key || alignment == 32 ? 0 : 1));
  for (const auto& [k, v] : kv_) {
    put_string(&header, k);
    put<uint32_t>(&header, static_cast<uint32_t>(v.type));
    put_value(&header, v);
  }
  if (!has_alignment_key && alignment != 32) {
    put_string(&header, "general.alignment");
    put<uint32_t>(&header, static_cast<uint32_t>(MetaType::kU32));
    put<uint32_t>(&header, alignment);
  }
  uint64_t rel = 0;
  std::vector<uint64_t> offsets;
  for (const auto& t : tensors_) {
    put_string(&header, t.name);
    put<uint32_t>(&header, static_cast<uint32_t>(t.shape.size()));
    for (size_t d = t.shape.size(); d-- > 0;) put<uint64_t>(&header, static_cast<uint64_t>(t.shape[d]));
    put<uint32_t>(&header, ggml_type_of(t.dtype));
    put<uint64_t>(&header, rel);
    offsets.push_back(rel);
    rel = align_up(rel + tensor_bytes(t.dtype, t.shape), alignment);
  }
  header.resize(align_up(header.size(), alignment), '\0');

  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::create(path));
  STRATA_TRY(w.write(header.data(), header.size()));
  const uint64_t data_start = header.size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    STRATA_TRY(w.write_zeros(data_start + offsets[i] - w.bytes_written()));
    uint64_t before = w.bytes_written();
    STRATA_TRY(t.data(w));
    if (w.bytes_written() - before != tensor_bytes(t.dtype, t.shape)) {
      return Status::errorf("{}: tensor '{}' wrote {} bytes, expected {}", path, t.name,
                            w.bytes_written() - before, tensor_bytes(t.dtype, t.shape));
    }
  }
  return w.commit();
}

}  // namespace strata
