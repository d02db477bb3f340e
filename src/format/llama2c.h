#pragma once
// llama2.c checkpoints (run.c's format): a 7 x int32 header (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len; negative vocab_size = unshared classifier),
// then float32 weights in a fixed order. Translated into GGUF-style metadata keys
// ("llama.block_count", ...) and GGUF tensor names ("blk.0.attn_q.weight", ...).

#include <string>
#include <string_view>

#include "core/status.h"
#include "format/metadata.h"
#include "format/tensor_index.h"

namespace strata {

struct Llama2cFile {
  std::string path;
  Metadata meta;       // general.architecture = "llama", llama.* hyper-parameters
  TensorIndex index;   // GGUF names; weights are stored for interleaved RoPE
};

// Returns an error naming the file if the header is absurd or the weights are truncated.
[[nodiscard]] Result<Llama2cFile> parse_llama2c(const std::string& path);
[[nodiscard]] Result<Llama2cFile> parse_llama2c_bytes(std::string_view bytes,
                                                     const std::string& name);

}  // namespace strata
