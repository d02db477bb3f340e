#include "format/hf_dir.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <vector>

#include "core/file.h"
#include "core/units.h"
#include "format/safetensors.h"

namespace strata {
namespace {

using nlohmann::json;

// config.json and the index are a few KiB; tokenizer files are not read here.
constexpr uint64_t kMaxJsonBytes = 64 * MiB;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string shown(std::string_view s) {
  constexpr size_t kMaxShown = 200;
  if (s.size() <= kMaxShown) return fmt::format("'{}'", s);
  return fmt::format("'{}...' ({} bytes)", s.substr(0, kMaxShown), s.size());
}

Result<std::string> real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) {
    return Status::errorf("{}: cannot resolve: {}", path, std::strerror(errno));
  }
  return std::string(buf);
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Where files of the directory may resolve to: the directory itself and, for a hub cache
// snapshot (<repo>/snapshots/<rev>), the repository's blobs/ whose files the snapshot links.
struct Roots {
  std::string dir;                // as given
  std::vector<std::string> real;  // resolved
};

Result<Roots> make_roots(const std::string& dir) {
  Roots r;
  r.dir = dir;
  STRATA_ASSIGN_OR_RETURN(std::string dir_real, real_path(dir));
  struct stat st {};
  if (::stat(dir_real.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::errorf("{}: not a directory", dir);
  }
  r.real.push_back(dir_real);
  std::filesystem::path p(dir_real);
  if (p.parent_path().filename() == "snapshots") {
    std::string blobs = (p.parent_path().parent_path() / "blobs").string();
    if (auto b = real_path(blobs); b.is_ok()) r.real.push_back(b.value());
  }
  return r;
}

bool is_inside(const std::string& real, const std::string& root) {
  if (root == "/") return true;
  return real.size() > root.size() && real.compare(0, root.size(), root) == 0 &&
         real[root.size()] == '/';
}

// Resolves `rel` (a name from the directory or its index) to "<dir>/<rel>". Returns "" if
// nothing is there, an error if the name or its resolved target leaves the directory.
// `source` is the file that named it, for errors.
Result<std::string> resolve_inside(const Roots& roots, const std::string& rel,
                                   const std::string& source) {
  if (rel.empty() || rel.find('\0') != std::string::npos) {
    return Status::errorf("{}: invalid file name {}", source, shown(rel));
  }
  if (rel.front() == '/') {
    return Status::errorf("{}: file name {} is an absolute path; shards must be inside {}", source,
                          shown(rel), roots.dir);
  }
  for (size_t start = 0; start <= rel.size();) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    if (rel.compare(start, slash - start, "..") == 0 && slash - start == 2) {
      return Status::errorf("{}: file name {} has a '..' component; shards must be inside {}",
                            source, shown(rel), roots.dir);
    }
    start = slash + 1;
  }
  std::string path = roots.dir + "/" + rel;
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) {
    if (errno == ENOENT) return std::string();  // absent, or a dangling symlink
    return Status::errorf("{}: cannot resolve {}: {}", source, path, std::strerror(errno));
  }
  const std::string real(buf);
  for (const std::string& root : roots.real) {
    if (is_inside(real, root)) return path;
  }
  return Status::errorf("{}: {} resolves to {}, outside the model directory {}", source, shown(rel),
                        real, roots.dir);
}

Result<json> read_json_file(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(std::string text, read_file_to_string(path, kMaxJsonBytes));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // its message gives the line, column and reason
    return Status::errorf("{}: invalid JSON: {}", path, e.what());
  }
  if (!j.is_object()) {
    return Status::errorf("{}: expected a JSON object, got {}", path, j.type_name());
  }
  return j;
}

Status open_optional(const Roots& roots, const std::string& name, std::string* out) {
  STRATA_ASSIGN_OR_RETURN(*out, resolve_inside(roots, name, roots.dir));
  return Status::ok();
}

struct Shard {
  std::string name;  // as the index spells it
  std::string path;  // <dir>/<name>
  std::string real;  // resolved, to notice two spellings of one file
};

// Adds every tensor of `st` to `out` as file `file_index`, rejecting names already there.
Status merge_shard(const SafetensorsFile& st, uint32_t file_index, HfDir* out) {
  for (const auto& [k, v] : st.metadata) out->metadata.emplace(k, v);
  for (const TensorInfo& t : st.index.tensors()) {
    TensorInfo copy = t;
    copy.file_index = file_index;
    if (!out->index.add(std::move(copy))) {
      const TensorInfo* prev = out->index.find(t.name);
      return Status::errorf("{}: tensor {} is also in {}: a tensor may be in one shard only",
                            st.path, shown(t.name), out->index.files[prev->file_index]);
    }
  }
  return Status::ok();
}

Status open_sharded(const Roots& roots, const std::string& index_path, HfDir* out) {
  STRATA_ASSIGN_OR_RETURN(json index, read_json_file(index_path));
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) {
    return Status::errorf("{}: missing \"weight_map\" object", index_path);
  }
  if (wm->empty()) return Status::errorf("{}: \"weight_map\" lists no tensors", index_path);
  // Shard names in sorted order: model-00001-of-0000N first.
  std::map<std::string, std::string> first_tensor_of_shard;
  for (const auto& [tensor, shard] : wm->items()) {
    if (!shard.is_string()) {
      return Status::errorf("{}: weight_map entry for tensor {} is not a file name string",
                            index_path, shown(tensor));
    }
    first_tensor_of_shard.emplace(shard.get<std::string>(), tensor);
  }
  std::vector<Shard> shards;
  std::map<std::string, uint32_t> file_of_shard_name;
  for (const auto& [name, tensor] : first_tensor_of_shard) {
    STRATA_ASSIGN_OR_RETURN(std::string path, resolve_inside(roots, name, index_path));
    if (path.empty()) {
      return Status::errorf("{}: shard {} (holding tensor {}) does not exist in {}", index_path,
                            shown(name), shown(tensor), roots.dir);
    }
    STRATA_ASSIGN_OR_RETURN(std::string real, real_path(path));
    auto same =
        std::find_if(shards.begin(), shards.end(), [&](const Shard& s) { return s.real == real; });
    if (same != shards.end()) {
      file_of_shard_name[name] = static_cast<uint32_t>(same - shards.begin());
      continue;
    }
    file_of_shard_name[name] = static_cast<uint32_t>(shards.size());
    shards.push_back({name, path, real});
  }
  for (uint32_t i = 0; i < shards.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(SafetensorsFile st, parse_safetensors(shards[i].path));
    out->index.files.push_back(shards[i].path);
    STRATA_TRY(merge_shard(st, i, out));
  }
  for (const auto& [tensor, shard] : wm->items()) {
    const std::string& shard_name = shard.get_ref<const std::string&>();
    const uint32_t want = file_of_shard_name.at(shard_name);
    const TensorInfo* t = out->index.find(tensor);
    if (!t) {
      return Status::errorf("{}: tensor {} is listed in shard {} but {} has no such tensor",
                            index_path, shown(tensor), shown(shard_name), shards[want].path);
    }
    if (t->file_index != want) {
      return Status::errorf("{}: tensor {} is listed in shard {} but is in {}", index_path,
                            shown(tensor), shown(shard_name), out->index.files[t->file_index]);
    }
  }
  return Status::ok();
}

Status open_dir(const std::string& dir, HfDir* out) {
  STRATA_ASSIGN_OR_RETURN(Roots roots, make_roots(dir));
  STRATA_ASSIGN_OR_RETURN(out->config_path, resolve_inside(roots, "config.json", dir));
  if (out->config_path.empty()) {
    return Status::errorf("{}/config.json: missing: a Hugging Face model directory needs one", dir);
  }
  STRATA_ASSIGN_OR_RETURN(out->config, read_json_file(out->config_path));
  STRATA_TRY(open_optional(roots, "tokenizer.json", &out->tokenizer_json_path));
  STRATA_TRY(open_optional(roots, "tokenizer_config.json", &out->tokenizer_config_path));
  STRATA_TRY(open_optional(roots, "generation_config.json", &out->generation_config_path));

  STRATA_ASSIGN_OR_RETURN(std::string single, resolve_inside(roots, kSingleFile, dir));
  if (!single.empty()) {
    STRATA_ASSIGN_OR_RETURN(SafetensorsFile st, parse_safetensors(single));
    out->index.files.push_back(single);
    return merge_shard(st, 0, out);
  }
  STRATA_ASSIGN_OR_RETURN(out->weights_index_path, resolve_inside(roots, kIndexFile, dir));
  if (!out->weights_index_path.empty()) {
    return open_sharded(roots, out->weights_index_path, out);
  }
  if (path_exists(dir + "/pytorch_model.bin") ||
      path_exists(dir + "/pytorch_model.bin.index.json")) {
    return Status::errorf(
        "{}: has PyTorch pickle weights (pytorch_model.bin), which strata does not load: "
        "convert them to model.safetensors",
        dir);
  }
  return Status::errorf("{}: no {} or {}: not a Hugging Face safetensors model directory", dir,
                        kSingleFile, kIndexFile);
}

}  // namespace

Result<HfDir> open_hf_dir(const std::string& dir_in) {
  HfDir out;
  out.dir = dir_in;
  while (out.dir.size() > 1 && out.dir.back() == '/') out.dir.pop_back();
  try {
    STRATA_TRY(open_dir(out.dir, &out));
  } catch (const std::bad_alloc&) {
    return Status::errorf("{}: out of memory reading the model directory", out.dir);
  } catch (const std::exception& e) {  // a json type_error would be a bug here; never abort
    return Status::errorf("{}: cannot read the model directory: {}", out.dir, e.what());
  }
  return out;
}

}  // namespace strata
