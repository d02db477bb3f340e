// strata make-model: deterministic bytes, the real architectures' hyper-parameters, the
// real tokenizers, and clear errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"

namespace strata {
namespace {

const std::string kData = STRATA_DATA;

using Output = test::CliOutput;
const std::string& dir() { return test::scratch_dir(); }
Output run(const std::string& args) { return test::run_cli(args); }
std::string slurp(const std::string& path) { return test::read_all(path); }

nlohmann::json inspect(const std::string& path, const std::string& extra = "") {
  Output o = run("inspect --json " + path + " " + extra);
  EXPECT_EQ(o.code, 0) << o.err;
  return nlohmann::json::parse(o.out, nullptr, false);
}

TEST(MakeModel, SameSeedGivesSameBytesAnotherSeedDifferentBytes) {
  const std::string a = dir() + "/tiny_a.gguf", b = dir() + "/tiny_b.gguf",
                    c = dir() + "/tiny_c.gguf";
  for (const auto& [path, seed] : {std::pair{a, 7}, std::pair{b, 7}, std::pair{c, 8}}) {
    Output o = run("make-model --shape tiny --dtype f16 --seed " + std::to_string(seed) +
                   " --out " + path);
    ASSERT_EQ(o.code, 0) << o.err;
  }
  const std::string bytes_a = slurp(a);
  ASSERT_GT(bytes_a.size(), 100000u);
  EXPECT_TRUE(bytes_a == slurp(b)) << "same seed, different bytes";
  EXPECT_FALSE(bytes_a == slurp(c)) << "another seed, same bytes";
  EXPECT_EQ(bytes_a.size(), slurp(c).size());

  // stories260K's shape and its 512-token SentencePiece vocabulary; it runs.
  nlohmann::json j = inspect(a);
  const auto& h = j["hyperparameters"];
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(h["n_layer"], 5);
  EXPECT_EQ(h["n_embd"], 64);
  EXPECT_EQ(h["n_ff"], 172);
  EXPECT_EQ(h["n_head"], 8);
  EXPECT_EQ(h["n_head_kv"], 4);
  EXPECT_EQ(h["n_vocab"], 512);
  EXPECT_EQ(j["tokenizer"]["kind"], "spm");
  EXPECT_EQ(j["tokenizer"]["n_vocab"], 512);
  Output r = run("run -m " + a + " -p 'Once upon a time' -n 4 --temp 0 -t 1");
  EXPECT_EQ(r.code, 0) << r.err;
}

// --block-pool: the same layout and size as quantizing every block, deterministic, different
// values, and a model that runs.
TEST(MakeModel, BlockPoolKeepsTheLayoutAndRuns) {
  const std::string full = dir() + "/pool_full.gguf", a = dir() + "/pool_a.gguf",
                    b = dir() + "/pool_b.gguf";
  for (const auto& [path, pool] : {std::pair{full, 0}, std::pair{a, 4}, std::pair{b, 4}}) {
    Output o = run("make-model --shape tiny-256 --dtype q4_k_m --seed 3 --block-pool " +
                   std::to_string(pool) + " --out " + path);
    ASSERT_EQ(o.code, 0) << o.err;
  }
  const std::string bytes_a = slurp(a), bytes_full = slurp(full);
  EXPECT_EQ(bytes_a.size(), bytes_full.size());
  EXPECT_TRUE(bytes_a == slurp(b));
  EXPECT_FALSE(bytes_a == bytes_full);
  nlohmann::json ja = inspect(a), jf = inspect(full);
  for (nlohmann::json* j : {&ja, &jf})
    for (auto& t : (*j)["tensors"]) t.erase("file");
  ASSERT_EQ(ja["tensors"].size(), 20u);
  EXPECT_EQ(ja["tensors"], jf["tensors"]);  // names, types, shapes, offsets
  Output r = run("run -m " + a + " -p 'Once upon a time' -n 4 --temp 0 -t 1");
  EXPECT_EQ(r.code, 0) << r.err;
  Output bad = run("make-model --shape tiny --format safetensors --block-pool 4 --out " + dir() +
                   "/pool_hf");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--block-pool"), std::string::npos) << bad.err;
}

// As llama.cpp's converter: 1-D tensors (norms, biases) are F32 whatever --dtype; llama.cpp
// refuses an F16 norm ("binary_op: unsupported types"). The Hugging Face directory keeps
// them in --dtype, as real checkpoints do, and holds the same values.
TEST(MakeModel, VectorsAreF32InGguf) {
  for (const char* dtype : {"f16", "bf16"}) {
    SCOPED_TRACE(dtype);
    const std::string path = dir() + "/vec_" + dtype + ".gguf";
    Output o = run("make-model --shape qwen2.5-0.5b --layers 1 --dtype " + std::string(dtype) +
                   " --out " + path);
    ASSERT_EQ(o.code, 0) << o.err;
    nlohmann::json j = inspect(path);
    int vectors = 0, matrices = 0;
    for (const auto& t : j["tensors"]) {
      if (t["shape"].size() == 1) {
        EXPECT_EQ(t["dtype"], "F32") << t["name"];
        ++vectors;
      } else {
        EXPECT_EQ(t["dtype"], dtype == std::string("f16") ? "F16" : "BF16") << t["name"];
        ++matrices;
      }
    }
    EXPECT_EQ(vectors, 2 + 3 + 1);  // attn/ffn norms, q/k/v biases, output norm
    EXPECT_EQ(matrices, 8);         // embedding, q, k, v, o, gate, up, down
    std::filesystem::remove(path);
  }
}

TEST(MakeModel, Qwen3ShapeHasTheRealHyperParametersAndTokenizer) {
  // Two layers: the 151,936 x 1024 embedding alone is 311 MB in F16.
  const std::string path = dir() + "/qwen3.gguf";
  Output o = run("make-model --shape qwen3-0.6b --layers 2 --dtype f16 --out " + path);
  ASSERT_EQ(o.code, 0) << o.err;
  nlohmann::json j = inspect(path);
  const auto& h = j["hyperparameters"];
  EXPECT_EQ(j["architecture"], "qwen3");
  EXPECT_EQ(h["n_layer"], 2);
  EXPECT_EQ(h["n_embd"], 1024);
  EXPECT_EQ(h["n_ff"], 3072);
  EXPECT_EQ(h["n_head"], 16);
  EXPECT_EQ(h["n_head_kv"], 8);
  EXPECT_EQ(h["head_dim"], 128);
  EXPECT_EQ(h["n_vocab"], 151936);
  EXPECT_EQ(h["n_ctx_train"], 40960);
  EXPECT_FLOAT_EQ(h["rope_theta"].get<float>(), 1e6f);
  EXPECT_FLOAT_EQ(h["rms_eps"].get<float>(), 1e-6f);
  EXPECT_EQ(h["rope_style"], "neox");
  EXPECT_EQ(h["qk_norm"], true);
  EXPECT_EQ(h["qkv_bias"], false);
  EXPECT_EQ(h["tied_embeddings"], true);
  // The Qwen tokenizer, padded to the embedding rows as llama.cpp's converter does.
  EXPECT_EQ(j["tokenizer"]["kind"], "bpe");
  EXPECT_EQ(j["tokenizer"]["n_vocab"], 151936);
  // Its GGUF vocabulary encodes like tokenizer.json.
  Output a = run("tokenize -m " + path + " --ids 'Hello world, the capital of France is Paris.'");
  Output b = run(
      "tokenize --tokenizer " + kData +
      "/tokenizers/qwen3/tokenizer.json.zst --ids 'Hello world, the capital of France is Paris.'");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  std::filesystem::remove(path);
}

TEST(MakeModel, SafetensorsDirectoryWithSentencePieceVocab) {
  const std::string out = dir() + "/tiny_hf";
  Output o =
      run("make-model --shape tiny --dtype bf16 --format safetensors --layers 3 --out " + out);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_TRUE(std::filesystem::exists(out + "/config.json"));
  EXPECT_TRUE(std::filesystem::exists(out + "/tokenizer.gguf"));
  EXPECT_NE(o.err.find("--tokenizer"), std::string::npos) << o.err;
  nlohmann::json j = inspect(out, "--tokenizer " + out + "/tokenizer.gguf");
  EXPECT_EQ(j["format"], "safetensors");
  EXPECT_EQ(j["hyperparameters"]["n_layer"], 3);
  EXPECT_EQ(j["tokenizer"]["n_vocab"], 512);
}

TEST(MakeModel, ListsTheShapes) {
  Output o = run("make-model --list");
  ASSERT_EQ(o.code, 0) << o.err;
  for (const char* s : {"tiny", "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "qwen2.5-0.5b",
                        "qwen3-0.6b", "mistral-7b"}) {
    EXPECT_NE(o.out.find(s), std::string::npos) << s;
  }
}

TEST(MakeModel, ClearErrors) {
  Output o = run("make-model --shape llama-9b --out " + dir() + "/x.gguf");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("unknown shape 'llama-9b'"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("llama-3.2-1b"), std::string::npos) << o.err;
  // The tokenizers come from the data folder; a wrong STRATA_DATA_DIR names what it missed.
  o = test::run_cli("make-model --shape llama-3.2-1b --out " + dir() + "/x.gguf",
                    "STRATA_DATA_DIR=/nonexistent");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("tokenizers/llama3/tokenizer.json.zst: not found in strata's data folder "
                       "(searched /nonexistent)"),
            std::string::npos)
      << o.err;
  EXPECT_FALSE(std::filesystem::exists(dir() + "/x.gguf"));
  o = run("make-model --shape tiny --dtype q4 --out " + dir() + "/x.gguf");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("--dtype"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace strata
