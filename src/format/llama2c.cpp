#include "format/llama2c.h"

#include "format/byte_source.h"

namespace strata {
namespace {

Status parse(ByteCursor& cur, Llama2cFile* out) {
  int32_t h[7];
  STRATA_TRY(cur.read(h, sizeof(h), "llama2.c header"));
  const int64_t dim = h[0], hidden = h[1], n_layer = h[2], n_head = h[3], n_head_kv = h[4];
  const bool shared_classifier = h[5] > 0;
  const int64_t vocab = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  const int64_t seq_len = h[6];
  auto bad = [&](const char* what, int64_t v) {
    return Status::errorf("{}: not a llama2.c checkpoint: {} = {} in the header", cur.name(),
                          what, v);
  };
  if (dim <= 0 || dim > (1 << 16)) return bad("dim", dim);
  if (hidden <= 0 || hidden > (1 << 18)) return bad("hidden_dim", hidden);
  if (n_layer <= 0 || n_layer > 1024) return bad("n_layers", n_layer);
  if (n_head <= 0 || dim % n_head != 0) return bad("n_heads", n_head);
  if (n_head_kv <= 0 || n_head % n_head_kv != 0) return bad("n_kv_heads", n_head_kv);
  if (vocab <= 0 || vocab > (1 << 22)) return bad("vocab_size", vocab);
  if (seq_len <= 0 || seq_len > (1 << 24)) return bad("seq_len", seq_len);
  const int64_t head_dim = dim / n_head;
  if (head_dim % 2 != 0) return bad("head size", head_dim);
  const int64_t kv_dim = head_dim * n_head_kv;

  auto set_u32 = [&](const std::string& k, int64_t v) {
    out->meta[k] = MetaValue::of_u32(static_cast<uint32_t>(v));
  };
  out->meta["general.architecture"] = MetaValue::of_string("llama");
  set_u32("llama.embedding_length", dim);
  set_u32("llama.feed_forward_length", hidden);
  set_u32("llama.block_count", n_layer);
  set_u32("llama.attention.head_count", n_head);
  set_u32("llama.attention.head_count_kv", n_head_kv);
  set_u32("llama.context_length", seq_len);
  set_u32("llama.vocab_size", vocab);
  set_u32("llama.rope.dimension_count", head_dim);
  out->meta["llama.rope.freq_base"] = MetaValue::of_f32(10000.0f);
  out->meta["llama.attention.layer_norm_rms_epsilon"] = MetaValue::of_f32(1e-5f);

  uint64_t offset = cur.pos();
  const uint64_t file_bytes = cur.size();
  Status error = Status::ok();
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    if (!error.is_ok()) return;
    TensorInfo t;
    t.name = name;
    t.dtype = DType::kF32;
    t.dtype_name = "F32";
    t.shape = std::move(shape);
    t.offset = offset;
    t.nbytes = static_cast<uint64_t>(t.n_elements()) * 4;
    if (t.nbytes > file_bytes || offset > file_bytes - t.nbytes) {
      error = Status::errorf("{}: truncated llama2.c checkpoint: '{}' needs bytes {}..{}, file has {}",
                             cur.name(), name, offset, offset + t.nbytes, file_bytes);
      return;
    }
    offset += t.nbytes;
    out->index.add(std::move(t));
  };
  // Weights are stored tensor-major: all layers of one tensor, then the next tensor.
  auto per_layer = [&](const std::string& suffix, std::vector<int64_t> shape) {
    for (int64_t l = 0; l < n_layer; ++l) add("blk." + std::to_string(l) + "." + suffix, shape);
  };
  add("token_embd.weight", {vocab, dim});
  per_layer("attn_norm.weight", {dim});
  per_layer("attn_q.weight", {dim, dim});
  per_layer("attn_k.weight", {kv_dim, dim});
  per_layer("attn_v.weight", {kv_dim, dim});
  per_layer("attn_output.weight", {dim, dim});
  per_layer("ffn_norm.weight", {dim});
  per_layer("ffn_gate.weight", {hidden, dim});
  per_layer("ffn_down.weight", {dim, hidden});
  per_layer("ffn_up.weight", {hidden, dim});
  add("output_norm.weight", {dim});
  STRATA_TRY(error);
  // freq_cis_real and freq_cis_imag (seq_len x head_dim/2 each): legacy, unused.
  const uint64_t freq_bytes = static_cast<uint64_t>(seq_len) * head_dim * 4;
  if (freq_bytes > file_bytes - offset) {
    return Status::errorf("{}: truncated llama2.c checkpoint: RoPE tables need {} bytes at {}",
                          cur.name(), freq_bytes, offset);
  }
  offset += freq_bytes;
  if (!shared_classifier) {
    add("output.weight", {vocab, dim});
    STRATA_TRY(error);
  }
  if (offset != file_bytes) {
    return Status::errorf("{}: llama2.c checkpoint has {} bytes after the last tensor (header "
                          "dim={} layers={} vocab={}: wrong header?)",
                          cur.name(), file_bytes - offset, dim, n_layer, h[5]);
  }
  return Status::ok();
}

}  // namespace

Result<Llama2cFile> parse_llama2c(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(File file, File::open(path));
  ByteCursor cur(file);
  Llama2cFile out;
  out.path = path;
  out.index.files.push_back(path);
  STRATA_TRY(parse(cur, &out));
  return out;
}

Result<Llama2cFile> parse_llama2c_bytes(std::string_view bytes, const std::string& name) {
  ByteCursor cur(bytes, name);
  Llama2cFile out;
  out.path = name;
  out.index.files.push_back(name);
  STRATA_TRY(parse(cur, &out));
  return out;
}

}  // namespace strata
