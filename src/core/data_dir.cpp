#include "core/data_dir.h"

#include <cstdlib>
#include <filesystem>

namespace strata {

namespace fs = std::filesystem;

std::string executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

std::vector<std::string> data_dir_candidates() {
  if (const char* env = std::getenv("STRATA_DATA_DIR"); env && *env) return {env};
  std::vector<std::string> out;
  const std::string exe = executable_dir();
  if (exe.empty()) return out;
  const fs::path dir(exe);
  for (const fs::path& p : {dir / ".." / "share" / "strata", dir / "share" / "strata"}) {
    out.push_back(p.lexically_normal().string());
  }
  return out;
}

Result<std::string> find_data_file(std::string_view relative) {
  const std::vector<std::string> dirs = data_dir_candidates();
  std::error_code ec;
  std::string searched;
  for (const std::string& d : dirs) {
    const fs::path p = fs::path(d) / relative;
    if (fs::is_regular_file(p, ec)) return p.string();
    searched += (searched.empty() ? "" : ", ") + d;
  }
  if (dirs.empty()) {
    return Status::errorf(
        "{}: cannot find strata's data folder (the executable's path is "
        "unknown); set STRATA_DATA_DIR",
        relative);
  }
  return Status::errorf(
      "{}: not found in strata's data folder (searched {}); set "
      "STRATA_DATA_DIR to the folder that holds models/ and tokenizers/",
      relative, searched);
}

std::string cache_dir() {
  if (const char* d = std::getenv("STRATA_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/strata";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/strata";
  return "/tmp/strata-cache";
}

}  // namespace strata
