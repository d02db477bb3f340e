#include <filesystem>

#include "model/model_source.h"
#include "tokenizer/tokenizer.h"

namespace strata {

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
        std::error_code ec;  // a symlink loop or unreadable folder is "not there", not a throw
        for (const std::string& cand :
             {"tok" + std::to_string(model.config.n_vocab) + ".bin", std::string("tokenizer.bin")}) {
          if (std::filesystem::exists(dir / cand, ec)) {
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
  return Tokenizer::from_file(path, static_cast<int32_t>(model.config.n_vocab));
}

}  // namespace strata
