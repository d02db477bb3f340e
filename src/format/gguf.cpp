#include "format/gguf.h"

#include <limits>

#include "core/units.h"
#include "format/byte_source.h"

namespace strata {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;              // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;
// Memory the parsed header may take (strings, array elements, tensor infos). The bytes-left
// checks alone let a corrupt count in a multi-GB file ask for terabytes (an array of 2^32 u8
// becomes 2^32 MetaValues); real headers, 256k-token vocabularies included, take < 100 MiB.
constexpr uint64_t kMaxHeaderMemoryBytes = 1ull << 30;

class GgufParser {
 public:
  explicit GgufParser(ByteCursor& cur) : cur_(cur) {}

  Status parse(GgufFile& out) {
    uint32_t magic = 0;
    STRATA_TRY(cur_.read_pod(&magic, "magic"));
    if (magic != kGgufMagic) {
      return Status::errorf("{}: not a GGUF file (magic 0x{:08x}, expected 0x{:08x} \"GGUF\")",
                            cur_.name(), magic, kGgufMagic);
    }
    STRATA_TRY(cur_.read_pod(&out.version, "version"));
    if (out.version != 2 && out.version != 3) {
      return Status::errorf("{}: unsupported GGUF version {} (strata reads versions 2 and 3)",
                            cur_.name(), out.version);
    }
    uint64_t n_tensors = 0, n_kv = 0;
    STRATA_TRY(cur_.read_pod(&n_tensors, "tensor count"));
    STRATA_TRY(cur_.read_pod(&n_kv, "metadata count"));
    // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at
    // least 8 + 4 + 4 + 8 bytes. Reject counts the file cannot possibly hold.
    if (n_kv > cur_.remaining() / 13) {
      return Status::errorf("{}: header claims {} metadata entries, more than the {} bytes left can hold",
                            cur_.name(), n_kv, cur_.remaining());
    }
    if (n_tensors > cur_.remaining() / 24) {
      return Status::errorf("{}: header claims {} tensors, more than the {} bytes left can hold",
                            cur_.name(), n_tensors, cur_.remaining());
    }
    for (uint64_t k = 0; k < n_kv; ++k) {
      uint64_t at = cur_.pos();
      std::string key;
      STRATA_TRY(read_string(&key, "metadata key"));
      uint32_t type = 0;
      STRATA_TRY(cur_.read_pod(&type, "metadata value type"));
      MetaValue v;
      STRATA_TRY(read_value(type, &v, 0).with_context("key '" + key + "'"));
      if (!out.meta.emplace(key, std::move(v)).second) {
        return Status::errorf("{}: duplicate metadata key '{}' at offset {}", cur_.name(), key, at);
      }
    }
    if (const MetaValue* a = meta_find(out.meta, "general.alignment")) {
      auto v = a->as_int();
      // The spec requires a multiple of 8, which also keeps every F32 and F16 tensor aligned.
      if (!v || *v < 8 || (*v & (*v - 1)) != 0 || *v > (1 << 24)) {
        return Status::errorf("{}: general.alignment must be a power of two of at least 8, got {}",
                              cur_.name(), a->to_display());
      }
      out.alignment = static_cast<uint64_t>(*v);
    }

    struct Pending {
      TensorInfo info;
      uint64_t rel_offset;
    };
    std::vector<Pending> pending;
    STRATA_TRY(charge(n_tensors, sizeof(Pending), "tensor infos"));
    pending.reserve(n_tensors);  // bounded by remaining()/24 and the memory budget
    for (uint64_t t = 0; t < n_tensors; ++t) {
      Pending p;
      STRATA_TRY(read_string(&p.info.name, "tensor name"));
      uint32_t n_dims = 0;
      STRATA_TRY(cur_.read_pod(&n_dims, "tensor dimension count"));
      if (n_dims == 0 || n_dims > kMaxDims) {
        return Status::errorf("{}: tensor '{}' has {} dimensions (1..{} allowed)", cur_.name(),
                              p.info.name, n_dims, kMaxDims);
      }
      uint64_t ne[kMaxDims] = {1, 1, 1, 1};
      uint64_t n_elem = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        STRATA_TRY(cur_.read_pod(&ne[d], "tensor dimension"));
        if (ne[d] == 0 || ne[d] > (1ull << 40)) {
          return Status::errorf("{}: tensor '{}' has an absurd dimension {} = {}", cur_.name(),
                                p.info.name, d, ne[d]);
        }
        if (n_elem > (1ull << 50) / ne[d]) {
          std::string dims;
          for (uint32_t k = 0; k <= d; ++k) dims += (k ? " x " : "") + std::to_string(ne[k]);
          return Status::errorf("{}: tensor '{}' has {} elements, more than 2^50", cur_.name(),
                                p.info.name, dims);
        }
        n_elem *= ne[d];
      }
      uint32_t type = 0;
      STRATA_TRY(cur_.read_pod(&type, "tensor type"));
      STRATA_TRY(cur_.read_pod(&p.rel_offset, "tensor offset"));
      const TypeTraits* tr = find_type(type);
      if (tr == nullptr) {
        return Status::errorf("{}: tensor '{}' has unknown ggml type {}", cur_.name(), p.info.name,
                              type);
      }
      if (ne[0] % static_cast<uint64_t>(tr->block_elems) != 0) {
        return Status::errorf("{}: tensor '{}' of type {} has row length {} not a multiple of {}",
                              cur_.name(), p.info.name, tr->name, ne[0], tr->block_elems);
      }
      p.info.dtype_name = std::string(tr->name);
      if (tr->weights) p.info.dtype = tr->type;
      p.info.nbytes = n_elem / static_cast<uint64_t>(tr->block_elems) *
                      static_cast<uint64_t>(tr->block_bytes);
      for (uint32_t d = n_dims; d-- > 0;) p.info.shape.push_back(static_cast<int64_t>(ne[d]));
      pending.push_back(std::move(p));
    }
    out.data_offset = align_up(cur_.pos(), out.alignment);
    const uint64_t file_bytes = cur_.size();
    for (auto& p : pending) {
      if (p.rel_offset % out.alignment != 0) {
        return Status::errorf("{}: tensor '{}' offset {} is not a multiple of the alignment {}",
                              cur_.name(), p.info.name, p.rel_offset, out.alignment);
      }
      if (p.rel_offset > file_bytes || out.data_offset > file_bytes - p.rel_offset ||
          p.info.nbytes > file_bytes - out.data_offset - p.rel_offset) {
        return Status::errorf(
            "{}: tensor '{}' ({} bytes at data offset {}) runs past the end of the file ({} bytes)",
            cur_.name(), p.info.name, p.info.nbytes, p.rel_offset, file_bytes);
      }
      p.info.offset = out.data_offset + p.rel_offset;
      std::string name = p.info.name;
      if (!out.index.add(std::move(p.info))) {
        return Status::errorf("{}: duplicate tensor name '{}'", cur_.name(), name);
      }
    }
    return Status::ok();
  }

 private:
  Status read_string(std::string* s, const char* what) {
    uint64_t len = 0;
    uint64_t at = cur_.pos();
    STRATA_TRY(cur_.read_pod(&len, what));
    if (len > cur_.remaining()) {
      return Status::errorf("{}: {} at offset {} claims {} bytes, but only {} remain", cur_.name(),
                            what, at, len, cur_.remaining());
    }
    STRATA_TRY(charge(len, 1, what));
    s->resize(len);
    return cur_.read(s->data(), len, what);
  }

  Status read_value(uint32_t type, MetaValue* v, int depth) {
    v->type = static_cast<MetaType>(type);
    switch (v->type) {
      case MetaType::kU8: { uint8_t x; STRATA_TRY(cur_.read_pod(&x, "u8")); v->u = x; break; }
      case MetaType::kI8: { int8_t x; STRATA_TRY(cur_.read_pod(&x, "i8")); v->i = x; break; }
      case MetaType::kU16: { uint16_t x; STRATA_TRY(cur_.read_pod(&x, "u16")); v->u = x; break; }
      case MetaType::kI16: { int16_t x; STRATA_TRY(cur_.read_pod(&x, "i16")); v->i = x; break; }
      case MetaType::kU32: { uint32_t x; STRATA_TRY(cur_.read_pod(&x, "u32")); v->u = x; break; }
      case MetaType::kI32: { int32_t x; STRATA_TRY(cur_.read_pod(&x, "i32")); v->i = x; break; }
      case MetaType::kU64: { uint64_t x; STRATA_TRY(cur_.read_pod(&x, "u64")); v->u = x; break; }
      case MetaType::kI64: { int64_t x; STRATA_TRY(cur_.read_pod(&x, "i64")); v->i = x; break; }
      case MetaType::kF32: { float x; STRATA_TRY(cur_.read_pod(&x, "f32")); v->f = x; break; }
      case MetaType::kF64: { double x; STRATA_TRY(cur_.read_pod(&x, "f64")); v->f = x; break; }
      case MetaType::kBool: {
        uint8_t x;
        STRATA_TRY(cur_.read_pod(&x, "bool"));
        if (x > 1) return Status::errorf("{}: bool value {} at offset {}", cur_.name(), x, cur_.pos() - 1);
        v->u = x;
        break;
      }
      case MetaType::kString: STRATA_TRY(read_string(&v->s, "string value")); break;
      case MetaType::kArray: {
        if (depth >= kMaxArrayDepth) {
          return Status::errorf("{}: arrays nested deeper than {} at offset {}", cur_.name(),
                                kMaxArrayDepth, cur_.pos());
        }
        uint32_t elem = 0;
        uint64_t n = 0;
        STRATA_TRY(cur_.read_pod(&elem, "array element type"));
        STRATA_TRY(cur_.read_pod(&n, "array length"));
        if (elem > static_cast<uint32_t>(MetaType::kF64)) {
          return Status::errorf("{}: unknown array element type {} at offset {}", cur_.name(), elem,
                                cur_.pos() - 12);
        }
        v->elem_type = static_cast<MetaType>(elem);
        uint64_t min_elem_bytes = min_value_bytes(v->elem_type);
        if (n > cur_.remaining() / min_elem_bytes) {
          return Status::errorf("{}: array at offset {} claims {} elements, more than the {} bytes left can hold",
                                cur_.name(), cur_.pos() - 12, n, cur_.remaining());
        }
        STRATA_TRY(charge(n, sizeof(MetaValue), "array"));
        v->arr.resize(n);
        for (uint64_t k = 0; k < n; ++k) STRATA_TRY(read_value(elem, &v->arr[k], depth + 1));
        break;
      }
      default:
        return Status::errorf("{}: unknown metadata value type {} at offset {}", cur_.name(), type,
                              cur_.pos() - 4);
    }
    return Status::ok();
  }

  static uint64_t min_value_bytes(MetaType t) {
    switch (t) {
      case MetaType::kU16: case MetaType::kI16: return 2;
      case MetaType::kU32: case MetaType::kI32: case MetaType::kF32: return 4;
      case MetaType::kU64: case MetaType::kI64: case MetaType::kF64: case MetaType::kString: return 8;
      case MetaType::kArray: return 12;
      default: return 1;
    }
  }

  // Counts `n` objects of `bytes` each against kMaxHeaderMemoryBytes before allocating them.
  Status charge(uint64_t n, uint64_t bytes, const char* what) {
    if (n > (kMaxHeaderMemoryBytes - used_bytes_) / bytes) {
      return Status::errorf("{}: {} at offset {} would take the header past {} MiB of memory "
                            "({} x {} bytes): corrupt file?",
                            cur_.name(), what, cur_.pos(), kMaxHeaderMemoryBytes >> 20, n, bytes);
    }
    used_bytes_ += n * bytes;
    return Status::ok();
  }

  ByteCursor& cur_;
  uint64_t used_bytes_ = 0;
};

Result<GgufFile> parse_with(ByteCursor& cur, const std::string& path) {
  GgufFile out;
  out.path = path;
  out.index.files.push_back(path);
  GgufParser parser(cur);
  STRATA_TRY(parser.parse(out));
  return out;
}

}  // namespace

std::string ggml_type_name(uint32_t type) {
  const TypeTraits* tr = find_type(type);
  return tr ? std::string(tr->name) : "type " + std::to_string(type);
}

Result<GgufFile> parse_gguf(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(File file, File::open(path));
  ByteCursor cur(file);
  return parse_with(cur, path);
}

Result<GgufFile> parse_gguf_bytes(std::string_view bytes, const std::string& name) {
  ByteCursor cur(bytes, name);
  return parse_with(cur, name);
}

}  // namespace strata
