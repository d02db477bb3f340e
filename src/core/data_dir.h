#pragma once
// Where strata finds the data it ships (the bundled model, the tokenizers make-model
// attaches): never a path compiled in from the source tree, so an installed binary works
// with the source tree gone.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata {

// The model `strata run` uses without -m: llama2.c's stories260K, in the data folder.
inline constexpr std::string_view kBundledModel = "models/stories260K.gguf";

// The folders searched, in order: $STRATA_DATA_DIR when set (an override: nothing else is
// searched then), else share/strata relative to the running executable: <exe>/../share/strata
// (an installed prefix: P/bin/strata reads P/share/strata; also a build tree's test
// programs in build/<preset>/tests), then <exe>/share/strata (a build tree, where CMake links
// build/<preset>/share/strata to the repository's data/ folder).
std::vector<std::string> data_dir_candidates();

// The path of `relative` (e.g. "models/stories260K.gguf") in the first candidate folder that
// has it; an error naming the file and every folder searched otherwise.
[[nodiscard]] Result<std::string> find_data_file(std::string_view relative);

// The directory of the running executable ("" if /proc/self/exe cannot be read).
std::string executable_dir();

// Where strata keeps what it makes for later runs (layer packs, the bench probe's figures):
// $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else ~/.cache/strata, else
// /tmp/strata-cache.
std::string cache_dir();

}  // namespace strata
