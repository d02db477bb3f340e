#include "format/metadata.h"

#include <fmt/format.h>

namespace strata {

const char* meta_type_name(MetaType t) {
  switch (t) {
    case MetaType::kU8: return "u8";
    case MetaType::kI8: return "i8";
    case MetaType::kU16: return "u16";
    case MetaType::kI16: return "i16";
    case MetaType::kU32: return "u32";
    case MetaType::kI32: return "i32";
    case MetaType::kF32: return "f32";
    case MetaType::kBool: return "bool";
    case MetaType::kString: return "string";
    case MetaType::kArray: return "array";
    case MetaType::kU64: return "u64";
    case MetaType::kI64: return "i64";
    case MetaType::kF64: return "f64";
  }
  return "?";
}

bool MetaValue::is_integer() const {
  switch (type) {
    case MetaType::kU8: case MetaType::kU16: case MetaType::kU32: case MetaType::kU64:
    case MetaType::kI8: case MetaType::kI16: case MetaType::kI32: case MetaType::kI64:
      return true;
    default:
      return false;
  }
}

std::optional<int64_t> MetaValue::as_int() const {
  switch (type) {
    case MetaType::kU8: case MetaType::kU16: case MetaType::kU32: case MetaType::kBool:
      return static_cast<int64_t>(u);
    case MetaType::kU64:
      if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<int64_t>(u);
    case MetaType::kI8: case MetaType::kI16: case MetaType::kI32: case MetaType::kI64:
      return i;
    default:
      return std::nullopt;
  }
}

std::optional<double> MetaValue::as_float() const {
  if (is_float()) return f;
  if (auto v = as_int(); v && type != MetaType::kBool) return static_cast<double>(*v);
  return std::nullopt;
}

std::optional<std::string> MetaValue::as_string() const {
  if (type == MetaType::kString) return s;
  return std::nullopt;
}

std::string MetaValue::to_display(size_t max_array_items) const {
  switch (type) {
    case MetaType::kString: return s.size() > 80 ? fmt::format("\"{}...\" ({} bytes)", s.substr(0, 77), s.size()) : "\"" + s + "\"";
    case MetaType::kBool: return u ? "true" : "false";
    case MetaType::kF32: case MetaType::kF64: return fmt::format("{}", f);
    case MetaType::kArray: {
      std::string out = fmt::format("[{} x {}]", arr.size(), meta_type_name(elem_type));
      if (!arr.empty()) {
        out += " [";
        for (size_t k = 0; k < arr.size() && k < max_array_items; ++k) {
          if (k) out += ", ";
          out += arr[k].to_display(0);
        }
        if (arr.size() > max_array_items) out += ", ...";
        out += "]";
      }
      return out;
    }
    default:
      if (auto v = as_int()) return std::to_string(*v);
      return std::to_string(u);
  }
}

std::optional<int64_t> meta_int(const Metadata& m, const std::string& key) {
  const MetaValue* v = meta_find(m, key);
  return v ? v->as_int() : std::nullopt;
}
std::optional<double> meta_float(const Metadata& m, const std::string& key) {
  const MetaValue* v = meta_find(m, key);
  return v ? v->as_float() : std::nullopt;
}
std::optional<std::string> meta_string(const Metadata& m, const std::string& key) {
  const MetaValue* v = meta_find(m, key);
  return v ? v->as_string() : std::nullopt;
}
const std::vector<MetaValue>* meta_array(const Metadata& m, const std::string& key) {
  const MetaValue* v = meta_find(m, key);
  return v && v->type == MetaType::kArray ? &v->arr : nullptr;
}

}  // namespace strata
