#include "tokenizer/tokenizer.h"

#include <cstring>
#include <filesystem>

#include "core/file.h"
#include "format/gguf.h"

namespace strata {

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    out += token_bytes(id, prev);
    prev = id;
  }
  return out;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_file(const std::string& path,
                                                     int32_t llama2c_n_vocab) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const char* name : {"tokenizer.json", "tokenizer.json.zst"}) {
      const fs::path json = fs::path(path) / name;
      if (fs::is_regular_file(json, ec)) return from_tokenizer_json(json.string());
    }
    return Status::errorf("{}: a directory without tokenizer.json", path);
  }
  STRATA_ASSIGN_OR_RETURN(File file, File::open(path));
  char head[8] = {};
  const uint64_t n_head = std::min<uint64_t>(sizeof(head), file.size_bytes());
  STRATA_TRY(file.read_at(0, head, n_head));
  if (n_head >= 4 && std::memcmp(head, "GGUF", 4) == 0) {
    STRATA_ASSIGN_OR_RETURN(GgufFile gguf, parse_gguf(path));
    return from_gguf_metadata(gguf.meta, path);
  }
  static constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  const bool zstd = n_head >= 4 && std::memcmp(head, kZstdMagic, 4) == 0;
  const bool json_name = fs::path(path).extension() == ".json";
  size_t k = 0;
  while (k < n_head && std::strchr(" \t\r\n", head[k]) != nullptr) ++k;
  if (zstd || json_name || (k < n_head && head[k] == '{')) return from_tokenizer_json(path);
  return from_llama2c(path, llama2c_n_vocab);
}

}  // namespace strata
