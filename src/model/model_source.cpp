#include "model/model_source.h"

#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "format/gguf.h"
#include "format/hf_dir.h"
#include "format/llama2c.h"
#include "model/hf_config.h"
#include "model/tensor_spec.h"
#include "tokenizer/tokenizer.h"

namespace strata {

const char* model_format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::kGguf:
      return "gguf";
    case ModelFormat::kSafetensors:
      return "safetensors";
    case ModelFormat::kLlama2c:
      return "llama2.c";
  }
  return "?";
}

namespace {

// Fills what files leave implicit: vocab size from the embedding, tied classifier.
Status finish_config(ModelSource* m) {
  const TensorInfo* emb = m->index.find("token_embd.weight");
  if (!emb) return Status::errorf("{}: missing tensor 'token_embd.weight'", m->path);
  if (emb->shape.size() != 2) {
    return Status::errorf("{}: token_embd.weight has shape {}, expected 2 dimensions", m->path,
                          shape_to_string(emb->shape));
  }
  if (m->config.n_vocab == 0) m->config.n_vocab = emb->shape[0];
  if (m->format != ModelFormat::kSafetensors) {
    m->config.tied_embeddings = m->index.find("output.weight") == nullptr;
    // Early Mixtral GGUFs keep one tensor per expert, as Hugging Face checkpoints do.
    m->config.experts_split = m->config.is_moe() && !m->index.find("blk.0.ffn_gate_exps.weight") &&
                              m->index.find("blk.0.ffn_gate.0.weight");
  }
  return validate_tensors(m->config, m->index, m->path, m->format == ModelFormat::kSafetensors);
}

// GGUF and llama2.c both come as GGUF-style metadata plus a tensor index.
Result<ModelSource> from_gguf_style(ModelFormat format, const std::string& path, Metadata meta,
                                    TensorIndex index) {
  ModelSource m;
  m.format = format;
  m.path = path;
  m.name = meta_string(meta, "general.name").value_or(std::filesystem::path(path).stem());
  STRATA_ASSIGN_OR_RETURN(m.config, config_from_gguf_metadata(meta, path));
  m.meta = std::move(meta);
  m.index = std::move(index);
  STRATA_TRY(finish_config(&m));
  return m;
}

Result<ModelSource> open_gguf(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(path));
  return from_gguf_style(ModelFormat::kGguf, path, std::move(g.meta), std::move(g.index));
}

Result<ModelSource> open_llama2c(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(Llama2cFile f, parse_llama2c(path));
  return from_gguf_style(ModelFormat::kLlama2c, path, std::move(f.meta), std::move(f.index));
}

Result<ModelSource> open_hf(const std::string& dir) {
  STRATA_ASSIGN_OR_RETURN(HfDir hf, open_hf_dir(dir));
  ModelSource m;
  m.format = ModelFormat::kSafetensors;
  m.path = dir;
  m.name = std::filesystem::path(dir).filename();
  if (m.name.empty()) m.name = std::filesystem::path(dir).parent_path().filename();
  STRATA_ASSIGN_OR_RETURN(m.config, config_from_hf_json(hf.config, hf.config_path));
  // Rename Hugging Face tensors to GGUF names; tensors the engine does not use are dropped.
  m.index.files = hf.index.files;
  for (const TensorInfo& t : hf.index.tensors()) {
    std::string gg = gguf_name_from_hf(t.name);
    if (gg.empty()) continue;
    TensorInfo renamed = t;
    renamed.name = gg;
    m.index.add(std::move(renamed));
  }
  m.tokenizer_json = hf.tokenizer_json_path;
  m.generation_config = hf.generation_config_path;
  m.meta["general.architecture"] = MetaValue::of_string(m.config.arch_name);
  m.meta["general.name"] = MetaValue::of_string(m.name);
  STRATA_TRY(finish_config(&m));
  return m;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Result<ModelSource> open_model(const std::string& path) {
  if (is_directory(path)) return open_hf(path);
  STRATA_ASSIGN_OR_RETURN(File f, File::open(path));
  char magic[4] = {};
  if (f.size_bytes() >= 4) STRATA_TRY(f.read_at(0, magic, 4));
  if (std::string_view(magic, 4) == "GGUF") return open_gguf(path);
  if (path.size() > 12 && path.substr(path.size() - 12) == ".safetensors") {
    return Status::errorf("{}: a bare .safetensors file has no config.json: pass its directory",
                          path);
  }
  if (f.size_bytes() < 28 || (path.size() < 4 || path.substr(path.size() - 4) != ".bin")) {
    return Status::errorf(
        "{}: unknown model format (expected a GGUF file, a Hugging Face "
        "directory or a llama2.c .bin checkpoint)",
        path);
  }
  return open_llama2c(path);
}

Result<ModelSource> open_model_bytes(std::string_view bytes, const std::string& name) {
  if (bytes.substr(0, 4) == "GGUF") {
    STRATA_ASSIGN_OR_RETURN(GgufFile g, parse_gguf_bytes(bytes, name));
    return from_gguf_style(ModelFormat::kGguf, name, std::move(g.meta), std::move(g.index));
  }
  STRATA_ASSIGN_OR_RETURN(Llama2cFile f, parse_llama2c_bytes(bytes, name));
  return from_gguf_style(ModelFormat::kLlama2c, name, std::move(f.meta), std::move(f.index));
}

}  // namespace strata
