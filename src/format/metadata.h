#pragma once
// Typed key/value metadata, format-neutral. GGUF metadata maps onto it one to one; other
// formats (config.json, llama2.c header) are translated into the same GGUF-style keys.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace strata {

// Numbering follows the GGUF specification's gguf_metadata_value_type.
enum class MetaType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* meta_type_name(MetaType t);

// One metadata value. Integers are held widened (u64 / i64), floats as double; `type` keeps
// the type the file declared. Arrays hold their elements, all of `elem_type`.
struct MetaValue {
  MetaType type = MetaType::kU8;
  uint64_t u = 0;    // kU8..kU64 (unsigned), kBool
  int64_t i = 0;     // kI8..kI64
  double f = 0;      // kF32, kF64
  std::string s;     // kString
  MetaType elem_type = MetaType::kU8;
  std::vector<MetaValue> arr;  // kArray

  static MetaValue of_u32(uint32_t v) { MetaValue m; m.type = MetaType::kU32; m.u = v; return m; }
  static MetaValue of_i32(int32_t v) { MetaValue m; m.type = MetaType::kI32; m.i = v; return m; }
  static MetaValue of_u64(uint64_t v) { MetaValue m; m.type = MetaType::kU64; m.u = v; return m; }
  static MetaValue of_f32(float v) { MetaValue m; m.type = MetaType::kF32; m.f = v; return m; }
  static MetaValue of_bool(bool v) { MetaValue m; m.type = MetaType::kBool; m.u = v; return m; }
  static MetaValue of_string(std::string v) {
    MetaValue m; m.type = MetaType::kString; m.s = std::move(v); return m;
  }
  static MetaValue of_array(MetaType elem, std::vector<MetaValue> v) {
    MetaValue m; m.type = MetaType::kArray; m.elem_type = elem; m.arr = std::move(v); return m;
  }

  bool is_integer() const;
  bool is_float() const { return type == MetaType::kF32 || type == MetaType::kF64; }
  std::optional<int64_t> as_int() const;    // integers and bools
  std::optional<double> as_float() const;   // floats and integers
  std::optional<std::string> as_string() const;
  std::string to_display(size_t max_array_items = 8) const;
};

using Metadata = std::map<std::string, MetaValue>;

inline const MetaValue* meta_find(const Metadata& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}
std::optional<int64_t> meta_int(const Metadata& m, const std::string& key);
std::optional<double> meta_float(const Metadata& m, const std::string& key);
std::optional<std::string> meta_string(const Metadata& m, const std::string& key);
// Array accessor: nullptr unless `key` is an array.
const std::vector<MetaValue>* meta_array(const Metadata& m, const std::string& key);

}  // namespace strata
