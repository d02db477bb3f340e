// libFuzzer target: a model file's header as `strata run` reads it before any weight: the
// hyper-parameters, the tensors the architecture needs (presence, shape, type), and the
// vocabulary in a GGUF's metadata, which then encodes and decodes a few texts. The bytes are
// a GGUF file when they start with its magic, a Hugging Face config.json when they start with
// '{', else a llama2.c checkpoint. Every input must give a Status: no crash, no sanitizer
// report, no allocation sized by a field nothing checked.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "model/hf_config.h"
#include "model/model_source.h"
#include "model/tensor_spec.h"
#include "tokenizer/tokenizer.h"

namespace {

// What the loader derives from a config: each layer's tensor specs and the RoPE divisors.
size_t touch_config(const strata::ModelConfig& c) {
  size_t total = c.llama3_rope_scaling ? c.llama3_rope_divisors().size() : 0;
  for (const strata::TensorSpec& s : strata::global_tensor_specs(c)) total += s.shape.size();
  for (int64_t layer = 0; layer < c.n_layer; ++layer) {
    for (const strata::TensorSpec& s : strata::layer_tensor_specs(c, layer)) {
      total += s.name.size();
    }
  }
  return total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t total = 0;
  if (!bytes.empty() && bytes[0] == '{') {
    const nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    auto c = strata::config_from_hf_json(j, "fuzz/config.json");
    if (c.is_ok()) total += touch_config(*c);
    if (total == 424242) return 0;  // keeps `total` alive
    return 0;
  }
  auto m = strata::open_model_bytes(bytes, "fuzz.model");
  if (!m.is_ok()) return 0;
  total += touch_config(m->config);
  for (const strata::TensorInfo& t : m->index.tensors()) total += t.nbytes + t.offset;
  if (m->format == strata::ModelFormat::kGguf) {
    auto t = strata::Tokenizer::from_gguf_metadata(m->meta, m->path);
    if (t.is_ok()) {
      for (std::string_view text : {std::string_view("Hello world!  a\xc3\xa9\xff"),
                                    std::string_view("<s> \xe2\x96\x81x\n\n 12345")}) {
        for (bool special : {false, true}) {
          const std::vector<int32_t> ids = (*t)->encode(text, true, special);
          total += (*t)->decode(ids).size();
        }
      }
    }
  }
  if (total == 424242) return 0;
  return 0;
}
