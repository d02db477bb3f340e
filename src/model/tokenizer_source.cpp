#include <sys/stat.h>

#include <filesystem>

#include "core/file.h"
#include "format/gguf.h"
#include "model/model_source.h"
#include "tokenizer/tokenizer.h"

namespace strata {

namespace {
bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
}  // namespace

Result<std::unique_ptr<Tokenizer>> open_tokenizer(const ModelSource& model,
                                                  const std::string& override_path) {
  std::string path = override_path;
  if (path.empty()) {
    switch (model.format) {
      case ModelFormat::kGguf:
        return Tokenizer::from_gguf_metadata(model.meta, model.path);
      case ModelFormat::kSafetensors:
        if (model.tokenizer_json.empty()) {
          return Status::errorf("{}: no tokenizer.json in the model directory (pass --tokenizer)",
                                model.path);
        }
        return Tokenizer::from_tokenizer_json(model.tokenizer_json);
      case ModelFormat::kLlama2c: {
        auto dir = std::filesystem::path(model.path).parent_path();
        for (const std::string& cand :
             {"tok" + std::to_string(model.config.n_vocab) + ".bin", std::string("tokenizer.bin")}) {
          if (std::filesystem::exists(dir / cand)) {
            path = (dir / cand).string();
            break;
          }
        }
        if (path.empty()) {
          return Status::errorf("{}: llama2.c checkpoints carry no vocabulary: pass --tokenizer "
                                "FILE (e.g. tok512.bin)", model.path);
        }
      }
    }
  }
  if (path.size() >= 5 && path.substr(path.size() - 5) == ".json") {
    return Tokenizer::from_tokenizer_json(path);
  }
  if (is_dir(path)) return Tokenizer::from_tokenizer_json(path + "/tokenizer.json");
  STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
  char magic[4] = {};
  if (f.size_bytes() >= 4) STRATA_TRY(f.read_at(0, magic, 4));
  if (std::string_view(magic, 4) == "GGUF") {
    STRATA_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(path));
    return Tokenizer::from_gguf_metadata(g.meta, path);
  }
  return Tokenizer::from_llama2c(path, static_cast<int32_t>(model.config.n_vocab));
}

}  // namespace strata
