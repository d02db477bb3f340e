#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <unordered_set>
#include <vector>

#include "core/file.h"

namespace strata {
namespace {

using nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";

// Tensor names come from the file and may be megabytes long; keep error messages readable.
std::string shown(std::string_view s) {
  constexpr size_t kMaxShown = 200;
  if (s.size() <= kMaxShown) return fmt::format("'{}'", s);
  return fmt::format("'{}...' ({} bytes)", s.substr(0, kMaxShown), s.size());
}

Status check_header_length(uint64_t header_bytes, uint64_t file_bytes, const std::string& name) {
  if (file_bytes < 8) {
    return Status::errorf("{}: truncated: {} bytes, too short for the 8-byte header length", name,
                          file_bytes);
  }
  if (header_bytes > kSafetensorsMaxHeaderBytes) {
    return Status::errorf("{}: header length {} exceeds the {} MiB limit (corrupt file?)", name,
                          header_bytes, kSafetensorsMaxHeaderBytes >> 20);
  }
  if (header_bytes > file_bytes - 8) {
    return Status::errorf("{}: truncated: header claims {} bytes, but only {} follow", name,
                          header_bytes, file_bytes - 8);
  }
  return Status::ok();
}

// Reads a JSON non-negative integer that fits in int64 (shape dims, offsets).
bool get_count(const json& j, uint64_t* out) {
  if (!j.is_number_unsigned()) return false;
  uint64_t v = j.get<uint64_t>();
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = v;
  return true;
}

struct Entry {
  TensorInfo info;
  uint64_t begin = 0;
  uint64_t end = 0;
};

Status parse_entry(const std::string& name, const std::string& tensor, const json& j,
                   uint64_t data_bytes, Entry* e) {
  const std::string what = fmt::format("{}: tensor {}", name, shown(tensor));
  if (!j.is_object()) {
    return Status::errorf("{}: expected an object with dtype, shape and data_offsets, got {}", what,
                          j.type_name());
  }
  auto dtype_it = j.find("dtype");
  if (dtype_it == j.end() || !dtype_it->is_string()) {
    return Status::errorf("{}: missing or non-string \"dtype\"", what);
  }
  const std::string& dtype = dtype_it->get_ref<const std::string&>();
  std::optional<uint32_t> bits = safetensors_dtype_bits(dtype);
  if (!bits) return Status::errorf("{}: unknown dtype {}", what, shown(dtype));

  auto shape_it = j.find("shape");
  if (shape_it == j.end() || !shape_it->is_array()) {
    return Status::errorf("{}: missing or non-array \"shape\"", what);
  }
  // Product of the non-zero dims stays within int64, so TensorInfo::n_elements() and every
  // partial product a caller computes cannot overflow, whatever the order.
  constexpr uint64_t kMaxElements = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t n_nonzero = 1;
  bool has_zero = false;
  e->info.shape.reserve(shape_it->size());
  for (const json& d : *shape_it) {
    uint64_t dim = 0;
    if (!get_count(d, &dim)) {
      return Status::errorf("{}: shape entry {} is not a non-negative integer", what,
                            d.is_number() ? d.dump() : d.type_name());
    }
    if (dim == 0) {
      has_zero = true;
    } else if (n_nonzero > kMaxElements / dim) {
      return Status::errorf("{}: shape {} overflows: more than 2^63 elements", what,
                            shape_it->size() <= 16 ? shape_it->dump() : "(long)");
    }
    if (dim != 0) n_nonzero *= dim;
    e->info.shape.push_back(static_cast<int64_t>(dim));
  }
  const uint64_t n_elements = has_zero ? 0 : n_nonzero;
  if (n_elements > std::numeric_limits<uint64_t>::max() / *bits) {
    return Status::errorf("{}: {} elements of {} overflow a 64-bit byte count", what, n_elements,
                          dtype);
  }
  const uint64_t n_bits = n_elements * *bits;
  if (n_bits % 8 != 0) {
    return Status::errorf("{}: {} elements of {} do not fill whole bytes", what, n_elements, dtype);
  }

  auto off_it = j.find("data_offsets");
  if (off_it == j.end() || !off_it->is_array() || off_it->size() != 2 ||
      !get_count((*off_it)[0], &e->begin) || !get_count((*off_it)[1], &e->end)) {
    return Status::errorf("{}: \"data_offsets\" must be two non-negative integers [begin, end]",
                          what);
  }
  if (e->begin > e->end) {
    return Status::errorf("{}: data_offsets begin {} > end {}", what, e->begin, e->end);
  }
  if (e->end > data_bytes) {
    return Status::errorf(
        "{}: data_offsets [{}, {}] run past the end of the data section ({} bytes): truncated?",
        what, e->begin, e->end, data_bytes);
  }
  if (e->end - e->begin != n_bits / 8) {
    return Status::errorf("{}: data_offsets span {} bytes, but shape {} of {} needs {}", what,
                          e->end - e->begin, shape_to_string(e->info.shape), dtype, n_bits / 8);
  }
  e->info.name = tensor;
  e->info.dtype_name = dtype;
  if (dtype == "F32") e->info.dtype = DType::kF32;
  if (dtype == "F16") e->info.dtype = DType::kF16;
  if (dtype == "BF16") e->info.dtype = DType::kBF16;
  e->info.nbytes = n_bits / 8;
  return Status::ok();
}

Status parse_metadata(const std::string& name, const json& j, SafetensorsFile* out) {
  if (!j.is_object()) {
    return Status::errorf("{}: \"__metadata__\" must be an object of strings, got {}", name,
                          j.type_name());
  }
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) {
      return Status::errorf("{}: \"__metadata__\" value for {} must be a string, got {}", name,
                            shown(k), v.type_name());
    }
    out->metadata.emplace(k, v.get<std::string>());
  }
  return Status::ok();
}

// Parses the JSON, rejecting duplicate keys (the last would silently win, and two readers
// could disagree about which bytes a tensor has).
Result<json> parse_json_strict(std::string_view text, const std::string& name) {
  std::vector<std::unordered_set<std::string>> open_objects;
  std::string duplicate;
  json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && duplicate.empty() &&
            !open_objects.back().insert(parsed.get_ref<const std::string&>()).second) {
          duplicate = parsed.get_ref<const std::string&>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true);
  } catch (const json::exception& e) {
    return Status::errorf("{}: header is not valid JSON: {}", name, e.what());
  }
  if (!duplicate.empty()) {
    return Status::errorf("{}: header has the key {} twice", name, shown(duplicate));
  }
  return j;
}

Status parse_header(std::string_view header, uint64_t data_bytes, SafetensorsFile* out) {
  const std::string& name = out->path;
  STRATA_ASSIGN_OR_RETURN(json j, parse_json_strict(header, name));
  if (!j.is_object()) {
    return Status::errorf("{}: header must be a JSON object, got {}", name, j.type_name());
  }
  std::vector<Entry> entries;
  entries.reserve(j.size());
  for (const auto& [key, value] : j.items()) {
    if (key == kMetadataKey) {
      STRATA_TRY(parse_metadata(name, value, out));
      continue;
    }
    Entry e;
    STRATA_TRY(parse_entry(name, key, value, data_bytes, &e));
    entries.push_back(std::move(e));
  }
  // File order, so a loader streaming the file reads forward.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Entry* last = nullptr;  // the non-empty tensor reaching furthest so far
  for (const Entry& e : entries) {
    if (e.end == e.begin) continue;
    if (last && e.begin < last->end) {
      return Status::errorf("{}: tensors {} [{}, {}] and {} [{}, {}] overlap", name,
                            shown(last->info.name), last->begin, last->end, shown(e.info.name),
                            e.begin, e.end);
    }
    if (!last || e.end > last->end) last = &e;
  }
  for (Entry& e : entries) {
    e.info.offset = out->data_offset + e.begin;
    e.info.file_index = 0;
    out->index.add(std::move(e.info));  // names are unique: JSON keys, duplicates rejected
  }
  return Status::ok();
}

Result<SafetensorsFile> parse_from(std::string_view header, uint64_t header_bytes,
                                   uint64_t data_bytes, const std::string& name) {
  SafetensorsFile out;
  out.path = name;
  out.header_bytes = header_bytes;
  out.data_offset = 8 + header_bytes;
  out.index.files.push_back(name);
  try {
    STRATA_TRY(parse_header(header, data_bytes, &out));
  } catch (const std::bad_alloc&) {
    return Status::errorf("{}: out of memory parsing the {}-byte header", name, header_bytes);
  } catch (const std::exception& e) {  // a json type_error would be a bug here; never abort
    return Status::errorf("{}: cannot parse the header: {}", name, e.what());
  }
  return out;
}

}  // namespace

std::optional<uint32_t> safetensors_dtype_bits(std::string_view d) {
  struct Known {
    std::string_view name;
    uint32_t bits;
  };
  // The dtypes of safetensors' Dtype enum (safetensors/src/tensor.rs).
  static constexpr Known kKnown[] = {
      {"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
      {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
      {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
      {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
  };
  for (const Known& k : kKnown) {
    if (k.name == d) return k.bits;
  }
  return std::nullopt;
}

Result<SafetensorsFile> parse_safetensors(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(File file, File::open(path));
  const uint64_t file_bytes = file.size_bytes();
  uint64_t header_bytes = 0;
  if (file_bytes >= 8) STRATA_TRY(file.read_at(0, &header_bytes, 8));
  STRATA_TRY(check_header_length(header_bytes, file_bytes, path));
  std::string header;
  try {
    header.resize(header_bytes);  // checked: <= 100 MiB and <= the file
  } catch (const std::bad_alloc&) {
    return Status::errorf("{}: out of memory reading the {}-byte header", path, header_bytes);
  }
  STRATA_TRY(file.read_at(8, header.data(), header_bytes));
  return parse_from(header, header_bytes, file_bytes - 8 - header_bytes, path);
}

Result<SafetensorsFile> parse_safetensors_bytes(std::string_view bytes, const std::string& name) {
  uint64_t header_bytes = 0;
  if (bytes.size() >= 8) std::memcpy(&header_bytes, bytes.data(), 8);
  STRATA_TRY(check_header_length(header_bytes, bytes.size(), name));
  return parse_from(bytes.substr(8, header_bytes), header_bytes, bytes.size() - 8 - header_bytes,
                    name);
}

}  // namespace strata
