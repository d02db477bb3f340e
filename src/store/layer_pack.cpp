#include "store/layer_pack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "core/data_dir.h"
#include "core/file.h"
#include "core/units.h"
#include "model/model_source.h"
#include "model/tensor_spec.h"

namespace strata {

namespace {

constexpr const char* kPackFormat = "strata-layer-pack";
// 2: the manifest binds the pack to its source's content (source.fingerprint).
constexpr uint64_t kPackVersion = 2;
// Regions start on a direct I/O block so each layer is one aligned O_DIRECT read.
constexpr uint64_t kRegionAlignBytes = 4096;
// Tensors start on a cache line inside their region (what TensorLoader gives the kernels).
constexpr uint64_t kTensorAlignBytes = 64;
// Source bytes are copied through a buffer of at most this size: large enough that syscall
// cost is noise (<1% at 2 GB/s), small enough that a 70B model never sits in memory.
constexpr uint64_t kCopyChunkBytes = 64 * MiB;
// A manifest lists every tensor (~150 bytes each); 1000 layers x 14 tensors is ~2 MiB.
constexpr uint64_t kMaxManifestBytes = 64 * MiB;

// Region -1 is the globals; 0.. are layers.
std::string region_name(int64_t region) {
  return region < 0 ? std::string("globals") : fmt::format("layer {}", region);
}

// The tensors a pack holds, per region, in spec order: [0] globals, [1 + l] layer l.
Result<std::vector<std::vector<const TensorInfo*>>> model_regions(const ModelSource& m) {
  std::vector<std::vector<const TensorInfo*>> regions(1 + static_cast<size_t>(m.config.n_layer));
  auto add = [&](const TensorSpec& spec, size_t region) -> Status {
    if (spec.name.empty()) return Status::ok();
    const TensorInfo* t = m.index.find(spec.name);
    if (!t) {
      if (!spec.required) return Status::ok();
      return Status::errorf("{}: missing tensor '{}'", m.path, spec.name);
    }
    regions[region].push_back(t);
    return Status::ok();
  };
  for (const TensorSpec& spec : global_tensor_specs(m.config)) STRATA_TRY(add(spec, 0));
  for (int64_t l = 0; l < m.config.n_layer; ++l) {
    for (const TensorSpec& spec : layer_tensor_specs(m.config, l)) {
      STRATA_TRY(add(spec, 1 + static_cast<size_t>(l)));
    }
  }
  return regions;
}

Result<uint64_t> source_size_bytes(const ModelSource& m) {
  uint64_t total = 0;
  for (const std::string& path : m.index.files) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return Status::errorf("{}: cannot stat: {}", path, std::strerror(errno));
    }
    total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

// What binds a pack to the bytes it was converted from, cheaply enough to check on every
// open: XXH64 over each source file's first MiB (header and tensor index) and 256 blocks of
// 4 KiB spread evenly over the rest. Two models of one architecture and size (make-model
// with another seed, another fine-tune) differ in those blocks; a full re-hash would cost a
// read of the whole model on every run.
constexpr uint64_t kFingerprintHeadBytes = 1 * MiB;
constexpr uint64_t kFingerprintBlockBytes = 4096;
constexpr uint64_t kFingerprintBlocks = 256;

Result<uint64_t> source_fingerprint(const ModelSource& m) {
  XXH64_state_t* state = XXH64_createState();
  if (!state) return Status::error("XXH64_createState: out of memory");
  std::unique_ptr<XXH64_state_t, XXH_errorcode (*)(XXH64_state_t*)> guard(state, XXH64_freeState);
  XXH64_reset(state, 0);
  std::vector<char> buf(kFingerprintHeadBytes);
  for (const std::string& path : m.index.files) {
    STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
    const uint64_t size = f.size_bytes();
    XXH64_update(state, &size, sizeof(size));
    const uint64_t head = std::min(size, kFingerprintHeadBytes);
    STRATA_TRY(f.read_at(0, buf.data(), head));
    XXH64_update(state, buf.data(), head);
    if (size <= head + kFingerprintBlockBytes) {
      STRATA_TRY(f.read_at(head, buf.data(), size - head));
      XXH64_update(state, buf.data(), size - head);
      continue;
    }
    const uint64_t span = size - head - kFingerprintBlockBytes;
    for (uint64_t i = 0; i < kFingerprintBlocks; ++i) {
      const uint64_t at = head + span / (kFingerprintBlocks - 1) * i;
      STRATA_TRY(f.read_at(at, buf.data(), kFingerprintBlockBytes));
      XXH64_update(state, buf.data(), kFingerprintBlockBytes);
    }
  }
  return XXH64_digest(state);
}

// Makes a rename or unlink in `dir` durable (POSIX leaves it in the page cache otherwise).
Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::errorf("{}: cannot open directory: {}", dir, std::strerror(errno));
  int ret = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (ret != 0) return Status::errorf("{}: fsync: {}", dir, std::strerror(err));
  return Status::ok();
}

struct XxhStateDeleter {
  void operator()(XXH64_state_t* s) const { XXH64_freeState(s); }
};
using XxhState = std::unique_ptr<XXH64_state_t, XxhStateDeleter>;

// Writes pack.bin's bytes through an AtomicFileWriter, hashing each region as it goes.
// Single-threaded.
class PackWriter {
 public:
  PackWriter(AtomicFileWriter* out, XXH64_state_t* state) : out_(out), state_(state) {}
  Status zeros(uint64_t n, bool hashed) {
    static const char kZeros[4096] = {};
    while (n > 0) {
      const uint64_t k = std::min<uint64_t>(n, sizeof(kZeros));
      STRATA_TRY(bytes(kZeros, k, hashed));
      n -= k;
    }
    return Status::ok();
  }
  Status bytes(const void* p, uint64_t n, bool hashed) {
    if (hashed) XXH64_update(state_, p, n);
    return out_->write(p, n);
  }
  uint64_t pos() const { return out_->bytes_written(); }

 private:
  AtomicFileWriter* out_;
  XXH64_state_t* state_;
};

struct PlannedRegion {
  std::vector<const TensorInfo*> tensors;
  std::vector<uint64_t> offsets;  // absolute in pack.bin, per tensor
  PackRegion region;
};

std::vector<PlannedRegion> plan_layout(std::vector<std::vector<const TensorInfo*>> regions,
                                       uint64_t* file_bytes) {
  std::vector<PlannedRegion> out(regions.size());
  uint64_t pos = 0;
  for (size_t r = 0; r < regions.size(); ++r) {
    pos = align_up(pos, kRegionAlignBytes);
    out[r].region.offset = pos;
    out[r].tensors = std::move(regions[r]);
    for (const TensorInfo* t : out[r].tensors) {
      pos = align_up(pos, kTensorAlignBytes);
      out[r].offsets.push_back(pos);
      pos += t->nbytes;
    }
    out[r].region.nbytes = pos - out[r].region.offset;
  }
  // The file ends on a block too, so O_DIRECT reads of the last region never run short.
  *file_bytes = align_up(pos, kRegionAlignBytes);
  return out;
}

nlohmann::ordered_json region_json(const PackRegion& r) {
  return {{"offset", r.offset}, {"nbytes", r.nbytes}, {"xxh64", fmt::format("{:016x}", r.xxh64)}};
}

}  // namespace

uint64_t xxh64_of(const void* data, uint64_t nbytes) { return XXH64(data, nbytes, 0); }

Status write_layer_pack(const ModelSource& model, const std::string& dir,
                        const std::function<void(uint64_t, uint64_t)>& progress) {
  STRATA_ASSIGN_OR_RETURN(auto regions, model_regions(model));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::errorf("{}: cannot create directory: {}", dir, ec.message());
  const std::string data_path = dir + "/pack.bin", manifest_path = dir + "/manifest.json";
  // A manifest left from an earlier convert would describe the new pack.bin wrongly if this
  // one is interrupted after pack.bin is renamed into place: remove it first, durably.
  if (::unlink(manifest_path.c_str()) != 0 && errno != ENOENT) {
    return Status::errorf("{}: cannot remove the old manifest: {}", manifest_path,
                          std::strerror(errno));
  }
  STRATA_TRY(fsync_dir(dir));

  std::vector<File> sources;
  uint64_t source_bytes = 0;
  for (const std::string& path : model.index.files) {
    STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
    source_bytes += f.size_bytes();
    sources.push_back(std::move(f));
  }
  uint64_t file_bytes = 0;
  std::vector<PlannedRegion> plan = plan_layout(std::move(regions), &file_bytes);
  uint64_t total_bytes = 0, max_tensor_bytes = 0;
  for (const PlannedRegion& r : plan) {
    for (const TensorInfo* t : r.tensors) {
      total_bytes += t->nbytes;
      max_tensor_bytes = std::max(max_tensor_bytes, t->nbytes);
    }
  }
  const uint64_t buf_bytes = std::clamp<uint64_t>(max_tensor_bytes, 1, kCopyChunkBytes);
  auto buf = std::make_unique_for_overwrite<char[]>(buf_bytes);
  XxhState state(XXH64_createState());
  if (!state) return Status::errorf("{}: XXH64_createState: out of memory", data_path);

  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter out, AtomicFileWriter::create(data_path));
  PackWriter w(&out, state.get());
  uint64_t done_bytes = 0;
  if (progress) progress(0, total_bytes);
  for (PlannedRegion& r : plan) {
    STRATA_TRY(w.zeros(r.region.offset - w.pos(), /*hashed=*/false));
    XXH64_reset(state.get(), 0);
    for (size_t i = 0; i < r.tensors.size(); ++i) {
      const TensorInfo& t = *r.tensors[i];
      STRATA_TRY(w.zeros(r.offsets[i] - w.pos(), /*hashed=*/true));
      for (uint64_t pos = 0; pos < t.nbytes; pos += buf_bytes) {
        const uint64_t n = std::min(buf_bytes, t.nbytes - pos);
        STRATA_TRY(sources.at(t.file_index).read_at(t.offset + pos, buf.get(), n));
        STRATA_TRY(w.bytes(buf.get(), n, /*hashed=*/true));
        done_bytes += n;
        if (progress) progress(done_bytes, total_bytes);
      }
    }
    r.region.xxh64 = XXH64_digest(state.get());
  }
  STRATA_TRY(w.zeros(file_bytes - w.pos(), /*hashed=*/false));
  STRATA_TRY(out.commit());

  nlohmann::ordered_json j;
  j["format"] = kPackFormat;
  j["version"] = kPackVersion;
  STRATA_ASSIGN_OR_RETURN(const uint64_t fingerprint, source_fingerprint(model));
  j["source"] = {{"path", model.path},
                 {"format", model_format_name(model.format)},
                 {"size_bytes", source_bytes},
                 {"fingerprint", fmt::format("{:016x}", fingerprint)}};
  j["n_layer"] = model.config.n_layer;
  j["globals"] = region_json(plan[0].region);
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (size_t r = 1; r < plan.size(); ++r) layers.push_back(region_json(plan[r].region));
  j["layers"] = std::move(layers);
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (size_t r = 0; r < plan.size(); ++r) {
    for (size_t i = 0; i < plan[r].tensors.size(); ++i) {
      const TensorInfo& t = *plan[r].tensors[i];
      nlohmann::ordered_json e = {{"name", t.name},     {"dtype", t.dtype_name},
                                  {"shape", t.shape},   {"offset", plan[r].offsets[i]},
                                  {"nbytes", t.nbytes}, {"region", nullptr}};
      if (r == 0) {
        e["region"] = "globals";
      } else {
        e["region"] = r - 1;
      }
      tensors.push_back(std::move(e));
    }
  }
  j["tensors"] = std::move(tensors);
  const std::string text = j.dump(1) + "\n";
  STRATA_ASSIGN_OR_RETURN(AtomicFileWriter mf, AtomicFileWriter::create(manifest_path));
  STRATA_TRY(mf.write(text.data(), text.size()));
  STRATA_TRY(mf.commit());
  return fsync_dir(dir);
}

// ---- Reading a manifest: every field is checked before it is used. ----

namespace {

using json = nlohmann::json;

// Field access that returns an error naming the manifest and the field instead of throwing.
class ManifestParser {
 public:
  explicit ManifestParser(std::string manifest_path) : path_(std::move(manifest_path)) {}

  template <typename... Args>
  Status error(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::error(path_ + ": " + fmt::format(f, std::forward<Args>(args)...));
  }

  Result<const json*> member(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) return error("{} must be an object", where);
    auto it = obj.find(key);
    if (it == obj.end()) return error("{}.{} is missing", where, key);
    return &*it;
  }
  Result<uint64_t> u64(const json& obj, const char* key, const std::string& where) const {
    STRATA_ASSIGN_OR_RETURN(const json* v, member(obj, key, where));
    if (!v->is_number_unsigned()) {
      return error("{}.{} must be a non-negative integer, got {}", where, key, v->dump());
    }
    return v->get<uint64_t>();
  }
  Result<std::string> str(const json& obj, const char* key, const std::string& where) const {
    STRATA_ASSIGN_OR_RETURN(const json* v, member(obj, key, where));
    if (!v->is_string()) return error("{}.{} must be a string, got {}", where, key, v->dump());
    return v->get<std::string>();
  }

  // A 64-bit value written as 1 to 16 hex digits.
  Result<uint64_t> hex64(const json& obj, const char* key, const std::string& where) const {
    STRATA_ASSIGN_OR_RETURN(std::string hex, str(obj, key, where));
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
    if (hex.empty() || hex.size() > 16 || ec != std::errc() || end != hex.data() + hex.size()) {
      return error("{}.{} must be 1 to 16 hex digits, got \"{}\"", where, key, hex);
    }
    return v;
  }

  // A region, checked against pack.bin's size and the direct I/O alignment. `field` names it
  // in the JSON ("layers[3]"), `where` in words ("layer 3").
  Result<PackRegion> region(const json& obj, const std::string& field, const std::string& where,
                            uint64_t pack_bytes) const {
    PackRegion r;
    STRATA_ASSIGN_OR_RETURN(r.offset, u64(obj, "offset", field));
    STRATA_ASSIGN_OR_RETURN(r.nbytes, u64(obj, "nbytes", field));
    STRATA_ASSIGN_OR_RETURN(r.xxh64, hex64(obj, "xxh64", field));
    if (r.offset % kRegionAlignBytes != 0) {
      return error("{} offset {} is not {}-byte aligned", where, r.offset, kRegionAlignBytes);
    }
    if (r.nbytes > pack_bytes || r.offset > pack_bytes - r.nbytes) {
      return error("{} [{}, +{}) runs past the end of pack.bin ({} bytes): truncated pack?", where,
                   r.offset, r.nbytes, pack_bytes);
    }
    return r;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ManifestTensor {
  TensorInfo info;       // dtype unset; name, dtype_name, shape, offset, nbytes from the file
  int64_t region = -1;   // -1 globals
  bool matched = false;  // one of the model's tensors
};

}  // namespace

std::string auto_layer_pack_dir(const ModelSource& m) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  for (const std::string& f : m.index.files) {
    struct stat st {};
    ::stat(f.c_str(), &st);
    mix(std::filesystem::absolute(f).string());
    mix(std::to_string(st.st_size) + ":" + std::to_string(st.st_mtime));
  }
  std::string stem = std::filesystem::path(m.path).filename().string();
  return cache_dir() + "/packs/" + stem + "-" + fmt::format("{:016x}", h);
}

Result<LayerPack> open_layer_pack(const std::string& dir, const ModelSource& model) {
  const std::string manifest_path = dir + "/manifest.json";
  const ManifestParser p(manifest_path);
  LayerPack pack;
  pack.dir = dir;
  pack.data_path = dir + "/pack.bin";

  auto text = read_file_to_string(manifest_path, kMaxManifestBytes);
  if (!text.is_ok()) {
    return Status::errorf(
        "{} (not a layer pack, or its convert was interrupted before the "
        "manifest was written: run `strata convert` again)",
        text.status().message());
  }
  json j;
  try {
    j = json::parse(*text);
  } catch (const json::exception& e) {
    return p.error("not valid JSON: {}", e.what());
  }
  if (!j.is_object()) return p.error("must hold a JSON object");
  STRATA_ASSIGN_OR_RETURN(std::string format, p.str(j, "format", "manifest"));
  if (format != kPackFormat) {
    return p.error("format is \"{}\", expected \"{}\"", format, kPackFormat);
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t version, p.u64(j, "version", "manifest"));
  if (version != kPackVersion) {
    return p.error("layer pack version {} is not supported (this strata reads version {})", version,
                   kPackVersion);
  }

  // The source it was converted from.
  STRATA_ASSIGN_OR_RETURN(const json* source, p.member(j, "source", "manifest"));
  STRATA_ASSIGN_OR_RETURN(std::string source_path, p.str(*source, "path", "source"));
  STRATA_ASSIGN_OR_RETURN(std::string source_format, p.str(*source, "format", "source"));
  STRATA_ASSIGN_OR_RETURN(uint64_t source_bytes, p.u64(*source, "size_bytes", "source"));
  if (source_format != model_format_name(model.format)) {
    return p.error("the pack was converted from a {} model ({}), but {} is {}", source_format,
                   source_path, model.path, model_format_name(model.format));
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t model_bytes, source_size_bytes(model));
  if (source_bytes != model_bytes) {
    return p.error(
        "the pack was converted from a source of {} bytes ({}), but {} is {} bytes: "
        "a different model, or it changed since the convert",
        source_bytes, source_path, model.path, model_bytes);
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t fingerprint, p.hex64(*source, "fingerprint", "source"));
  STRATA_ASSIGN_OR_RETURN(const uint64_t model_fingerprint, source_fingerprint(model));
  if (fingerprint != model_fingerprint) {
    return p.error(
        "the pack was converted from other bytes than {} has now (content fingerprint {:016x}, "
        "now {:016x}): a different model of the same size, or it changed since the convert",
        model.path, fingerprint, model_fingerprint);
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t n_layer, p.u64(j, "n_layer", "manifest"));
  if (n_layer != static_cast<uint64_t>(model.config.n_layer)) {
    return p.error("n_layer is {}, but {} has {} layers", n_layer, model.path,
                   model.config.n_layer);
  }

  // Regions, against pack.bin's size.
  struct stat st {};
  if (::stat(pack.data_path.c_str(), &st) != 0) {
    return p.error("its data file {} cannot be read: {}", pack.data_path, std::strerror(errno));
  }
  const uint64_t pack_bytes = static_cast<uint64_t>(st.st_size);
  STRATA_ASSIGN_OR_RETURN(const json* globals, p.member(j, "globals", "manifest"));
  STRATA_ASSIGN_OR_RETURN(pack.globals, p.region(*globals, "globals", "globals", pack_bytes));
  STRATA_ASSIGN_OR_RETURN(const json* layers, p.member(j, "layers", "manifest"));
  if (!layers->is_array() || layers->size() != n_layer) {
    return p.error("layers must be an array of {} regions (n_layer)", n_layer);
  }
  for (size_t l = 0; l < layers->size(); ++l) {
    STRATA_ASSIGN_OR_RETURN(PackRegion r, p.region((*layers)[l], fmt::format("layers[{}]", l),
                                                   region_name(l), pack_bytes));
    pack.layers.push_back(r);
  }
  auto region_of = [&](int64_t r) -> const PackRegion& {
    return r < 0 ? pack.globals : pack.layers[static_cast<size_t>(r)];
  };
  std::vector<int64_t> by_offset;
  for (int64_t r = -1; r < static_cast<int64_t>(n_layer); ++r) by_offset.push_back(r);
  std::sort(by_offset.begin(), by_offset.end(),
            [&](int64_t a, int64_t b) { return region_of(a).offset < region_of(b).offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const PackRegion &a = region_of(by_offset[i - 1]), &b = region_of(by_offset[i]);
    if (a.offset + a.nbytes > b.offset) {
      return p.error("{} [{}, +{}) overlaps {} at {}", region_name(by_offset[i - 1]), a.offset,
                     a.nbytes, region_name(by_offset[i]), b.offset);
    }
  }

  // Tensors: well-formed, unique, each inside its region, not overlapping one another.
  STRATA_ASSIGN_OR_RETURN(const json* tensors, p.member(j, "tensors", "manifest"));
  if (!tensors->is_array()) return p.error("tensors must be an array");
  std::vector<ManifestTensor> mts;
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < tensors->size(); ++i) {
    const json& e = (*tensors)[i];
    const std::string where = fmt::format("tensors[{}]", i);
    ManifestTensor mt;
    TensorInfo& t = mt.info;
    STRATA_ASSIGN_OR_RETURN(t.name, p.str(e, "name", where));
    const std::string tw = fmt::format("tensor '{}'", t.name);
    if (t.name.empty()) return p.error("{}.name is empty", where);
    if (!by_name.emplace(t.name, i).second) return p.error("{} is listed twice", tw);
    STRATA_ASSIGN_OR_RETURN(t.dtype_name, p.str(e, "dtype", tw));
    STRATA_ASSIGN_OR_RETURN(const json* shape, p.member(e, "shape", tw));
    if (!shape->is_array()) return p.error("{}: shape must be an array", tw);
    for (const json& d : *shape) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return p.error("{}: shape {} must hold non-negative integers", tw, shape->dump());
      }
      t.shape.push_back(d.get<int64_t>());
    }
    STRATA_ASSIGN_OR_RETURN(t.offset, p.u64(e, "offset", tw));
    STRATA_ASSIGN_OR_RETURN(t.nbytes, p.u64(e, "nbytes", tw));
    STRATA_ASSIGN_OR_RETURN(const json* region, p.member(e, "region", tw));
    if (region->is_string() && region->get<std::string>() == "globals") {
      mt.region = -1;
    } else if (region->is_number_unsigned() && region->get<uint64_t>() < n_layer) {
      mt.region = region->get<int64_t>();
    } else {
      return p.error("{}: region must be \"globals\" or a layer number below {}, got {}", tw,
                     n_layer, region->dump());
    }
    if (t.offset % kTensorAlignBytes != 0) {
      return p.error("{}: offset {} is not {}-byte aligned", tw, t.offset, kTensorAlignBytes);
    }
    const PackRegion& r = region_of(mt.region);
    if (t.offset < r.offset || t.nbytes > r.nbytes || t.offset - r.offset > r.nbytes - t.nbytes) {
      return p.error("{} [{}, +{}) lies outside its region, {} [{}, +{})", tw, t.offset, t.nbytes,
                     region_name(mt.region), r.offset, r.nbytes);
    }
    mts.push_back(std::move(mt));
  }
  {
    std::vector<const ManifestTensor*> sorted;
    for (const ManifestTensor& mt : mts) sorted.push_back(&mt);
    std::sort(sorted.begin(), sorted.end(), [](const ManifestTensor* a, const ManifestTensor* b) {
      return a->info.offset < b->info.offset;
    });
    for (size_t i = 1; i < sorted.size(); ++i) {
      const TensorInfo &a = sorted[i - 1]->info, &b = sorted[i]->info;
      if (a.offset + a.nbytes > b.offset) {
        return p.error("tensor '{}' [{}, +{}) overlaps tensor '{}' at {}", a.name, a.offset,
                       a.nbytes, b.name, b.offset);
      }
    }
  }

  // The model's tensors, one for one.
  STRATA_ASSIGN_OR_RETURN(auto regions, model_regions(model));
  size_t n_needed = 0;
  for (size_t r = 0; r < regions.size(); ++r) {
    const int64_t want_region = static_cast<int64_t>(r) - 1;
    for (const TensorInfo* t : regions[r]) {
      ++n_needed;
      auto it = by_name.find(t->name);
      if (it == by_name.end()) {
        return p.error("tensor '{}' of {} is not in the pack", t->name, model.path);
      }
      ManifestTensor& mt = mts[it->second];
      if (mt.region != want_region) {
        return p.error("tensor '{}' is in region {}, expected {}", t->name, region_name(mt.region),
                       region_name(want_region));
      }
      if (mt.info.dtype_name != t->dtype_name) {
        return p.error("tensor '{}' has type {} in the pack but {} in {}", t->name,
                       mt.info.dtype_name, t->dtype_name, model.path);
      }
      if (mt.info.shape != t->shape) {
        return p.error("tensor '{}' has shape {} in the pack but {} in {}", t->name,
                       shape_to_string(mt.info.shape), shape_to_string(t->shape), model.path);
      }
      if (mt.info.nbytes != t->nbytes) {
        return p.error("tensor '{}' has {} bytes in the pack but {} in {}", t->name, mt.info.nbytes,
                       t->nbytes, model.path);
      }
      mt.info.dtype = t->dtype;
      mt.matched = true;
    }
  }
  if (mts.size() != n_needed) {
    for (const ManifestTensor& mt : mts) {
      if (!mt.matched) {
        return p.error("tensor '{}' is not one {} needs", mt.info.name, model.path);
      }
    }
  }

  pack.index.files = {pack.data_path};
  for (ManifestTensor& mt : mts) {
    mt.info.file_index = 0;
    pack.index.add(std::move(mt.info));
  }
  return pack;
}

}  // namespace strata
