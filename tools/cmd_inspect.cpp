// strata inspect: what a model file holds, without loading weights.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "backend/cpu/cpu_features.h"
#include "model/model_source.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"

namespace strata::cli {

namespace {

struct InspectArgs {
  std::string path;
  std::string tokenizer;
  bool json = false;
  bool all_tensors = false;
};

// Bytes per layer ("blk.N."), and outside layers ("" key = globals).
std::map<int64_t, uint64_t> bytes_per_layer(const TensorIndex& index, uint64_t* global_bytes) {
  std::map<int64_t, uint64_t> out;
  *global_bytes = 0;
  static const std::regex re(R"(blk\.(\d+)\..*)");
  for (const auto& t : index.tensors()) {
    std::smatch m;
    if (std::regex_match(t.name, m, re)) {
      out[std::stoll(m[1].str())] += t.nbytes;
    } else {
      *global_bytes += t.nbytes;
    }
  }
  return out;
}

std::string human_bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", b / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", b / double(1ull << 10));
  return fmt::format("{} B", b);
}

int inspect_main(const InspectArgs& a) {
  auto model = open_model(a.path);
  if (!model) return fail(model.status());
  const ModelSource& m = *model;
  const ModelConfig& c = m.config;
  std::string tok_kind = "none";
  int64_t tok_vocab = 0;
  std::string tok_error;
  auto tok = open_tokenizer(m, a.tokenizer);
  if (tok) {
    tok_kind = (*tok)->kind();
    tok_vocab = (*tok)->n_vocab();
  } else {
    tok_error = tok.status().message();
  }
  uint64_t global_bytes = 0;
  auto per_layer = bytes_per_layer(m.index, &global_bytes);

  if (a.json) {
    nlohmann::json j;
    j["path"] = m.path;
    j["format"] = model_format_name(m.format);
    j["name"] = m.name;
    j["architecture"] = c.arch_name;
    j["hyperparameters"] = {
        {"n_layer", c.n_layer},
        {"n_embd", c.n_embd},
        {"n_ff", c.n_ff},
        {"n_head", c.n_head},
        {"n_head_kv", c.n_head_kv},
        {"head_dim", c.head_dim},
        {"n_vocab", c.n_vocab},
        {"n_ctx_train", c.n_ctx_train},
        {"rope_theta", c.rope_theta},
        {"rms_eps", c.rms_eps},
        {"rope_style", c.rope_style == RopeStyle::kNeox ? "neox" : "interleaved"},
        {"tied_embeddings", c.tied_embeddings},
        {"qkv_bias", c.qkv_bias},
        {"qk_norm", c.qk_norm},
        {"sliding_window", c.sliding_window},
        {"llama3_rope_scaling", c.llama3_rope_scaling},
        {"n_expert", c.n_expert},
        {"n_expert_used", c.n_expert_used},
        {"n_ff_exp", c.n_ff_exp}};
    if (c.is_moe()) {
      j["hyperparameters"]["moe_routing"] =
          c.moe_routing == MoeRouting::kTopkSoftmax ? "topk_softmax" : "softmax_topk";
      j["hyperparameters"]["moe_norm_topk"] = c.moe_norm_topk;
      j["hyperparameters"]["experts_split"] = c.experts_split;
    }
    j["tokenizer"] = {{"kind", tok_kind}, {"n_vocab", tok_vocab}};
    j["cpu_kernels"] = cpu_description();
    if (!tok_error.empty()) j["tokenizer"]["error"] = tok_error;
    j["total_bytes"] = m.index.total_bytes();
    j["global_bytes"] = global_bytes;
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& [l, b] : per_layer) layers.push_back(b);
    j["bytes_per_layer"] = layers;
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : m.index.tensors()) {
      tensors.push_back({{"name", t.name},
                         {"dtype", t.dtype_name},
                         {"shape", t.shape},
                         {"file", m.index.files[t.file_index]},
                         {"offset", t.offset},
                         {"nbytes", t.nbytes}});
    }
    j["tensors"] = tensors;
    std::string out = j.dump(2);
    std::printf("%s\n", out.c_str());
    // Everything else was shown, but a model whose tokenizer does not load cannot run.
    return tok_error.empty() ? 0 : fail(tok.status());
  }
  std::printf("%s\n", m.path.c_str());
  std::printf("  format        %s\n", model_format_name(m.format));
  std::printf("  name          %s\n", m.name.c_str());
  std::printf("  architecture  %s\n", c.arch_name.c_str());
  std::printf("  layers        %ld\n", static_cast<long>(c.n_layer));
  std::printf("  hidden        %ld   ffn %ld\n", static_cast<long>(c.n_embd),
              static_cast<long>(c.n_ff));
  if (c.is_moe()) {
    // Mixtral: top-k logits then softmax; Qwen3-MoE: softmax, top-k, renormalized or not.
    const char* routing = c.moe_routing == MoeRouting::kTopkSoftmax ? "softmax of the top-k logits"
                          : c.moe_norm_topk                         ? "softmax, top-k, renormalized"
                                                                    : "softmax, top-k";
    std::printf("  experts       %ld per layer, %ld per token, ffn %ld each (%s; %s)\n",
                static_cast<long>(c.n_expert), static_cast<long>(c.n_expert_used),
                static_cast<long>(c.n_ff_exp), routing,
                c.experts_split ? "one tensor per expert" : "stacked tensors");
  }
  std::printf("  heads         %ld (kv %ld, head dim %ld)\n", static_cast<long>(c.n_head),
              static_cast<long>(c.n_head_kv), static_cast<long>(c.head_dim));
  std::printf("  vocab         %ld\n", static_cast<long>(c.n_vocab));
  std::printf("  context       %ld (training)\n", static_cast<long>(c.n_ctx_train));
  std::printf(
      "  rope          theta %g, %s%s\n", c.rope_theta,
      c.rope_style == RopeStyle::kNeox ? "rotate-half (neox)" : "interleaved",
      c.llama3_rope_scaling ? fmt::format(", llama3 scaling x{}", c.rope_factor).c_str() : "");
  std::printf("  rms eps       %g\n", c.rms_eps);
  std::printf("  features      %s%s%s%s\n", c.tied_embeddings ? "tied-embeddings " : "",
              c.qkv_bias ? "qkv-bias " : "", c.qk_norm ? "qk-norm " : "",
              c.sliding_window ? fmt::format("sliding-window={}", c.sliding_window).c_str() : "");
  if (tok_error.empty()) {
    std::printf("  tokenizer     %s, %ld tokens\n", tok_kind.c_str(), static_cast<long>(tok_vocab));
  } else {
    std::printf("  tokenizer     unavailable: %s\n", tok_error.c_str());
  }
  std::printf("  cpu kernels   %s\n", cpu_description().c_str());
  std::printf("  weights       %s in %zu tensors (%s outside layers)\n",
              human_bytes(m.index.total_bytes()).c_str(), m.index.size(),
              human_bytes(global_bytes).c_str());
  std::printf("  bytes/layer  ");
  for (const auto& [l, b] : per_layer) {
    if (l >= 8 && l + 1 < static_cast<int64_t>(per_layer.size())) {
      if (l == 8) std::printf(" ...");
      continue;
    }
    std::printf(" %s", human_bytes(b).c_str());
  }
  std::printf("\n\n  %-40s %-6s %-18s %14s %12s\n", "tensor", "type", "shape", "offset", "bytes");
  size_t shown = 0;
  for (const auto& t : m.index.tensors()) {
    if (!a.all_tensors && shown >= 40) {
      std::printf("  ... %zu more (--all)\n", m.index.size() - shown);
      break;
    }
    std::printf("  %-40s %-6s %-18s %14lu %12lu\n", t.name.c_str(), t.dtype_name.c_str(),
                shape_to_string(t.shape).c_str(), static_cast<unsigned long>(t.offset),
                static_cast<unsigned long>(t.nbytes));
    ++shown;
  }
  return tok_error.empty() ? 0 : fail(tok.status());
}

}  // namespace

Command inspect_command() {
  auto args = std::make_shared<InspectArgs>();
  Command c;
  c.run = [args] { return inspect_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub =
        app.add_subcommand("inspect", "Show a model's architecture, tokenizer and tensors");
    sub->add_option("path", args->path, "GGUF file, Hugging Face directory or llama2.c .bin")
        ->required();
    sub->add_option("--tokenizer", args->tokenizer, "Tokenizer override (llama2.c models)");
    sub->add_flag("--json", args->json, "Machine-readable output");
    sub->add_flag("--all", args->all_tensors, "List every tensor");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
