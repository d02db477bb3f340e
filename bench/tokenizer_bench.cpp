// Tokenizer encode throughput on ~1 MiB of mixed text (English prose, code, CJK, emoji),
// generated deterministically so every run and machine encodes the same bytes.
//   build/<dir>/bench/tokenizer_bench --benchmark_filter=Encode
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

const std::string kData = STRATA_DATA;
const std::string kTestData = STRATA_TEST_DATA;
constexpr size_t kTextBytes = 1 << 20;

std::string mixed_text() {
  std::mt19937 rng(20261125);  // mt19937's sequence is fixed by the standard
  auto pick = [&](const std::vector<std::string>& v) -> const std::string& {
    return v[rng() % v.size()];
  };
  const std::vector<std::string> words = {"the",
                                          "of",
                                          "and",
                                          "to",
                                          "in",
                                          "a",
                                          "is",
                                          "that",
                                          "for",
                                          "it",
                                          "as",
                                          "was",
                                          "with",
                                          "be",
                                          "by",
                                          "on",
                                          "not",
                                          "he",
                                          "I",
                                          "this",
                                          "are",
                                          "or",
                                          "his",
                                          "from",
                                          "at",
                                          "which",
                                          "but",
                                          "have",
                                          "an",
                                          "had",
                                          "they",
                                          "you",
                                          "were",
                                          "their",
                                          "one",
                                          "all",
                                          "we",
                                          "can",
                                          "her",
                                          "has",
                                          "there",
                                          "been",
                                          "if",
                                          "more",
                                          "when",
                                          "will",
                                          "would",
                                          "who",
                                          "so",
                                          "no",
                                          "memory",
                                          "streaming",
                                          "weights",
                                          "layer",
                                          "device",
                                          "throughput",
                                          "latency",
                                          "model",
                                          "tokenizer",
                                          "inference",
                                          "bandwidth",
                                          "quantization",
                                          "attention",
                                          "transformer",
                                          "don't",
                                          "it's",
                                          "we'll",
                                          "they're",
                                          "I've",
                                          "Hugging",
                                          "Face",
                                          "llama.cpp",
                                          "GPU",
                                          "extraordinary",
                                          "misunderstanding",
                                          "internationalization",
                                          "naïve",
                                          "café",
                                          "résumé"};
  const std::vector<std::string> punct = {".", ",", ";", ":", "!", "?", " -", " (see", ")"};
  const std::vector<std::string> code = {
      "for (int i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n",
      "def encode(self, text: str) -> list[int]:\n    return self._bpe(text.strip())\n",
      "    if (status != 0) return fail(\"bad status: %d\\n\", status);\n",
      "std::vector<std::pair<int32_t, float>> scores;\nscores.reserve(4096);\n",
      "#include <stdio.h>\n\nint main(void) {\n\tprintf(\"hello, world\\n\");\n}\n",
      "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id;\n",
      "const x = await fetch(`${base}/v1/models`).then((r) => r.json());\n",
      "    0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00,  // ELF header\n"};
  const std::vector<std::string> cjk = {
      "我们", "今天", "模型",   "推理", "内存",   "的", "是", "在", "不", "了",     "有",
      "和",   "人",   "这",     "中",   "大",     "为", "上", "个", "国", "日本語", "テキスト",
      "です", "ます", "한국어", "문장", "입니다", "，", "。", "、", "「", "」"};
  const std::vector<std::string> emoji = {"😀",
                                          "🚀",
                                          "🦙",
                                          "👍🏽",
                                          "😶‍🌫️",
                                          "👨‍👩‍👧",
                                          "🇫🇷",
                                          "✅",
                                          "❤️",
                                          "🎉",
                                          "∑",
                                          "→",
                                          "≈",
                                          "½",
                                          "€"};
  std::string out;
  out.reserve(kTextBytes + 4096);
  while (out.size() < kTextBytes) {
    const unsigned kind = rng() % 20;
    if (kind < 11) {  // prose paragraph
      const int n_sentences = 2 + rng() % 5;
      for (int s = 0; s < n_sentences; ++s) {
        const int n_words = 4 + rng() % 18;
        for (int w = 0; w < n_words; ++w) {
          std::string word = pick(words);
          if (w == 0) word[0] = static_cast<char>(std::toupper(word[0]));
          out += word;
          if (rng() % 12 == 0) out += std::to_string(rng() % 100000);
          if (w + 1 < n_words) out += rng() % 10 == 0 ? pick(punct) + " " : " ";
        }
        out += s + 1 < n_sentences ? ". " : ".\n\n";
      }
    } else if (kind < 16) {  // code
      const int n = 1 + rng() % 4;
      for (int k = 0; k < n; ++k) out += pick(code);
      out += "\n";
    } else if (kind < 19) {  // CJK
      const int n = 10 + rng() % 60;
      for (int k = 0; k < n; ++k) out += pick(cjk);
      out += "\n";
    } else {  // emoji and symbols between words
      const int n = 5 + rng() % 20;
      for (int k = 0; k < n; ++k) out += pick(emoji) + (rng() % 2 ? " " : "") + pick(words) + " ";
      out += "\n";
    }
  }
  return out;
}

const std::string& text() {
  static const std::string t = mixed_text();
  return t;
}

std::unique_ptr<Tokenizer> load(const std::string& path, std::string* error) {
  auto r = Tokenizer::from_file(path);
  if (!r.is_ok()) {
    *error = r.status().message();
    return nullptr;
  }
  return std::move(r).value();
}

void encode_bench(benchmark::State& state, const std::string& path) {
  std::string error;
  const std::unique_ptr<Tokenizer> tok = load(path, &error);
  if (!tok) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::string& t = text();
  size_t n_tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = tok->encode(t, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * t.size()));
  state.counters["text_bytes"] = static_cast<double>(t.size());
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["bytes_per_token"] = static_cast<double>(t.size()) / n_tokens;
}

void BM_Encode_Llama3Json(benchmark::State& s) {
  encode_bench(s, kData + "/tokenizers/llama3/tokenizer.json.zst");
}
void BM_Encode_Qwen3Json(benchmark::State& s) {
  encode_bench(s, kData + "/tokenizers/qwen3/tokenizer.json.zst");
}
void BM_Encode_Gpt2Gguf(benchmark::State& s) {
  encode_bench(s, kTestData + "/tokenizers/vectors/ggml-vocab-gpt-2.gguf");
}
void BM_Encode_Llama2SpmGguf(benchmark::State& s) {
  encode_bench(s, kTestData + "/tokenizers/vectors/ggml-vocab-llama-spm.gguf");
}

void BM_Load_Llama3Json(benchmark::State& state) {
  for (auto _ : state) {
    std::string error;
    auto tok = load(kData + "/tokenizers/llama3/tokenizer.json.zst", &error);
    if (!tok) state.SkipWithError(error.c_str());
  }
}

void BM_StreamDecode_Llama3(benchmark::State& state) {
  std::string error;
  const auto tok = load(kData + "/tokenizers/llama3/tokenizer.json.zst", &error);
  if (!tok) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::vector<int32_t> ids = tok->encode(text(), false);
  for (auto _ : state) {
    StreamDecoder dec(*tok);
    size_t n = 0;
    for (int32_t id : ids) n += dec.push(id).size();
    n += dec.flush().size();
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text().size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ids.size()));
}

BENCHMARK(BM_Encode_Llama3Json)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Encode_Qwen3Json)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Encode_Gpt2Gguf)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Encode_Llama2SpmGguf)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Load_Llama3Json)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_StreamDecode_Llama3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strata
