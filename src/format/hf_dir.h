#pragma once
// A Hugging Face model directory: config.json, tokenizer files and safetensors weights,
// either one model.safetensors or shards listed by model.safetensors.index.json.

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "format/tensor_index.h"

namespace strata {

struct HfDir {
  std::string dir;                     // as given, without trailing '/'
  std::string config_path;             // <dir>/config.json (always present)
  std::string tokenizer_json_path;     // <dir>/tokenizer.json, "" if absent
  std::string tokenizer_config_path;   // <dir>/tokenizer_config.json, "" if absent
  std::string generation_config_path;  // <dir>/generation_config.json, "" if absent
  std::string weights_index_path;      // <dir>/model.safetensors.index.json, "" if unsharded
  nlohmann::json config;               // config.json, an object; keys are not interpreted here
  std::map<std::string, std::string> metadata;  // shards' "__metadata__" (first shard wins)
  TensorIndex index;  // every tensor of every shard, names as in the files; files = shard paths
};

// Opens `dir`: parses config.json and the header of every safetensors shard. Prefers
// model.safetensors over an index (as transformers does). Every file it opens, shards above
// all, must resolve (after symlinks) inside `dir`: names in the index that are absolute, hold
// a ".." component, or lead outside through a symlink are rejected. The one exception is the
// Hugging Face hub cache layout, where <repo>/snapshots/<rev>/* are symlinks into
// <repo>/blobs/. Errors: missing config.json or weights, invalid JSON, a shard that is missing
// or malformed, a tensor the index lists but its shard lacks, a tensor in two shards; each
// names the file. Never aborts, never throws.
[[nodiscard]] Result<HfDir> open_hf_dir(const std::string& dir);

}  // namespace strata
