// End-to-end checks of the strata CLI: exact stdout against llama2.c's run.c, logits dump,
// and one-line errors with a non-zero exit on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "core/file.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "format/safetensors_writer.h"
#include "model/config.h"
#include "model/model_writer.h"
#include "tokenizer/gguf_vocab_writer.h"

namespace strata {
namespace {

const std::string kData = STRATA_DATA;
const std::string kTestData = STRATA_TEST_DATA;
const std::string kGguf = kData + "/models/stories260K.gguf";

using Output = test::CliOutput;
using test::read_all;
using test::write_all;
std::string temp_dir() { return test::make_temp_dir("cli"); }
Output run(const std::string& args) { return test::run_cli(args); }

nlohmann::json reference() {
  std::ifstream f(kTestData + "/reference/stories260K.json");
  return nlohmann::json::parse(f);
}

TEST(CliRun, GgufMatchesRunCStdout) {
  auto ref = reference();
  Output o = run("run -m " + kGguf + " -p 'Once upon a time' -n 36 --temp 0");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, ref["cases"][0]["stdout"].get<std::string>());
  // The stats line goes to stderr.
  EXPECT_NE(o.err.find("tok/s"), std::string::npos) << o.err;
  o = run("run -m " + kGguf + " -p 'Once upon a time' -n 40 --temp 0");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, ref["cases"][1]["stdout"].get<std::string>());
}

TEST(CliRun, Llama2cCheckpointMatchesRunCStdout) {
  auto ref = reference();
  Output o = run("run -m " + kTestData + "/models/stories260K.bin --tokenizer " + kTestData +
                 "/models/tok512.bin -p 'Once upon a time' -n 36 --temp 0 -t 1");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, ref["cases"][0]["stdout"].get<std::string>());
}

TEST(CliRun, EmptyPromptMatchesRunC256Steps) {
  // run.c -n 256 from BOS alone samples at positions 0..255: 256 new tokens.
  auto ref = reference();
  Output o = run("run -m " + kGguf + " -p '' -n 256 --temp 0");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, ref["cases"][2]["stdout"].get<std::string>());
}

TEST(CliRun, DefaultModelIsTheBundledOne) {
  auto ref = reference();
  Output o = run("run -p 'Once upon a time' -n 36 --temp 0");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, ref["cases"][0]["stdout"].get<std::string>());
}

TEST(CliRun, DumpLogitsMatchesRunC) {
  std::string dir = temp_dir();
  // run.c keeps its attention cache in F32; so does this run (the default F16 cache's own
  // error is tests/engine's KvType).
  Output o = run("run -m " + kGguf + " -p 'Once upon a time' -n 36 --temp 0 --kv-type f32 " +
                 "--dump-logits " + dir + "/logits.f32");
  ASSERT_EQ(o.code, 0) << o.err;
  std::ifstream f(dir + "/logits.f32", std::ios::binary);
  std::vector<float> got((std::istreambuf_iterator<char>(f)), {});
  std::ifstream r(kTestData + "/reference/stories260K-runc-n40-logits.f32", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(r)), {});
  std::string got_bytes;
  {
    std::ifstream g(dir + "/logits.f32", std::ios::binary);
    got_bytes.assign((std::istreambuf_iterator<char>(g)), {});
  }
  // 5 prompt positions + 35 positions of sampled tokens that were fed back.
  ASSERT_EQ(got_bytes.size(), bytes.size());
  const float* a = reinterpret_cast<const float*>(got_bytes.data());
  const float* b = reinterpret_cast<const float*>(bytes.data());
  float max_err = 0;
  for (size_t i = 0; i < bytes.size() / 4; ++i) max_err = std::max(max_err, std::fabs(a[i] - b[i]));
  EXPECT_LT(max_err, 1e-4f);
  std::filesystem::remove_all(dir);
}

TEST(CliRun, SeededSamplingIsReproducible) {
  std::string args = "run -m " + kGguf +
                     " -p 'Once upon a time' -n 30 --temp 0.9 --top-k 40 "
                     "--top-p 0.9 --min-p 0.02 --repeat-penalty 1.1 --seed 42";
  Output a = run(args), b = run(args), c = run(args + "1");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_EQ(a.out.rfind("Once upon a time", 0), 0u);
}

// llama2.c checkpoints store each tensor for all layers together, so a layer's bytes are
// scattered: streaming writes a layer pack into the cache once, says so, and the output is
// still run.c's.
TEST(CliRun, ScatteredLayersAreStreamedThroughAnAutomaticPack) {
  auto ref = reference();
  std::string cache = temp_dir();
  std::string args = "run -m " + kTestData + "/models/stories260K.bin --tokenizer " + kTestData +
                     "/models/tok512.bin -p 'Once upon a time' -n 36 --temp 0 "
                     "-ngl 2 --offload-to disk --prefetch 1";
  Output o = test::run_cli(args, "STRATA_CACHE_DIR=" + cache);
  const std::string& out = o.out;
  const std::string& err = o.err;
  const int code = o.code;
  ASSERT_EQ(code, 0) << err;
  EXPECT_EQ(out, ref["cases"][0]["stdout"].get<std::string>());
  EXPECT_NE(err.find("writing a layer pack"), std::string::npos) << err;
  EXPECT_NE(err.find("layer pack"), std::string::npos) << err;
  std::filesystem::remove_all(cache);
}

// A Hugging Face directory in Llama 2 / Mistral layout, its tokenizer a SentencePiece-style
// tokenizer.json (the real Mistral-7B one), and the GGUF of the same weights with the
// vocabulary make-model would write: the same prompt ids and the same greedy text.
TEST(CliRun, SentencePieceTokenizerJsonDirectoryMatchesItsGguf) {
  const std::string dir = temp_dir();
  ModelConfig c;
  c.arch = Arch::kMistral;
  c.arch_name = "llama";  // as llama.cpp's converter names Mistral 7B
  c.n_layer = 2;
  c.n_embd = 64;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 16;
  c.n_ff = 128;
  c.n_vocab = 32000;
  c.n_ctx_train = 512;
  c.rope_style = RopeStyle::kInterleaved;
  RandomModelOptions o;
  o.dtype = DType::kBF16;
  o.seed = 11;
  o.weight_std = 0.2f;  // far from uniform, so greedy decoding depends on every weight
  const std::string json = kData + "/tokenizers/mistral/tokenizer.json.zst";
  auto vocab = gguf_vocab_from_tokenizer_json(json, "", c.n_vocab);
  ASSERT_TRUE(vocab.is_ok()) << vocab.status().message();
  o.extra_gguf_meta = *vocab;
  ASSERT_TRUE(write_random_gguf(c, o, dir + "/model.gguf").is_ok());
  ASSERT_TRUE(write_random_hf(c, o, dir + "/hf").is_ok());
  auto text = read_file_decompressed(json);
  ASSERT_TRUE(text.is_ok());
  write_all(dir + "/hf/tokenizer.json", *text);
  std::filesystem::copy_file(kData + "/tokenizers/mistral/tokenizer_config.json",
                             dir + "/hf/tokenizer_config.json");
  const std::string args = " -p 'The capital of France is' -n 24 --temp 0 -q --ignore-eos";
  Output a = run("run -m " + dir + "/hf" + args);
  Output b = run("run -m " + dir + "/model.gguf" + args);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_GT(a.out.size(), std::string("The capital of France is").size() + 24);
  Output ta = run("tokenize --ids -m " + dir + "/hf 'Hello world, 3.14 caf\xc3\xa9'");
  Output tb = run("tokenize --ids -m " + dir + "/model.gguf 'Hello world, 3.14 caf\xc3\xa9'");
  EXPECT_EQ(ta.out, tb.out);
  std::filesystem::remove_all(dir);
}

TEST(CliInspect, ShowsHyperParametersAndTensors) {
  Output o = run("inspect " + kGguf + " --json");
  ASSERT_EQ(o.code, 0) << o.err;
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["hyperparameters"]["n_layer"], 5);
  EXPECT_EQ(j["hyperparameters"]["n_embd"], 64);
  EXPECT_EQ(j["hyperparameters"]["n_ff"], 172);
  EXPECT_EQ(j["hyperparameters"]["n_head"], 8);
  EXPECT_EQ(j["hyperparameters"]["n_head_kv"], 4);
  EXPECT_EQ(j["hyperparameters"]["n_vocab"], 512);
  EXPECT_EQ(j["tokenizer"]["kind"], "spm");
  EXPECT_EQ(j["bytes_per_layer"].size(), 5u);
  // Per layer: 2 norms (64) + q, o (64x64) + k, v (32x64) + 3 FFN (172x64), F32.
  EXPECT_EQ(j["bytes_per_layer"][0], (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64) * 4);
  o = run("inspect " + kGguf);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("blk.0.attn_q.weight"), std::string::npos);
}

// ---- bad input: one line "strata: error: <file>: ...", non-zero exit, no crash ----

using test::expect_clean_error;

class CliBadInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(CliBadInput, TruncatedGgufAtManyOffsets) {
  const std::string full = read_all(kGguf);
  const std::string path = dir_ + "/trunc.gguf";
  for (size_t cut : {size_t{0}, size_t{3}, size_t{4}, size_t{10}, size_t{23}, size_t{100},
                     size_t{5000}, size_t{20000}, full.size() / 2, full.size() - 1}) {
    write_all(path, full.substr(0, cut));
    expect_clean_error(run("run -m " + path + " -n 1"), "trunc.gguf",
                       "cut at " + std::to_string(cut));
  }
}

TEST_F(CliBadInput, WrongMagicAndAbsurdHeaders) {
  std::string bytes = read_all(kGguf);
  bytes[0] = 'X';
  write_all(dir_ + "/magic.gguf", bytes);
  // Not GGUF and not .bin: unknown format.
  expect_clean_error(run("inspect " + dir_ + "/magic.gguf"), "magic.gguf", "wrong magic");

  auto le64 = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
  std::string hdr = std::string("GGUF") + std::string("\x03\x00\x00\x00", 4);
  write_all(dir_ + "/many.gguf", hdr + le64(1ull << 60) + le64(0) + std::string(64, '\0'));
  expect_clean_error(run("run -m " + dir_ + "/many.gguf"), "1152921504606846976 tensors",
                     "2^60 tensors");
  // One metadata key whose string claims 100 GB.
  std::string s = hdr + le64(0) + le64(1) + le64(100ull << 30) + "key";
  write_all(dir_ + "/bigstr.gguf", s);
  expect_clean_error(run("run -m " + dir_ + "/bigstr.gguf"), "bigstr.gguf", "100 GB string");
}

TEST_F(CliBadInput, MissingTensorTensorPastEndAndUnsupportedType) {
  auto g = parse_gguf(kGguf);
  ASSERT_TRUE(g.is_ok());
  // Rewrite stories260K without blk.3.ffn_up.weight.
  GgufWriter w;
  for (const auto& [k, v] : g->meta) w.set(k, v);
  std::string all = read_all(kGguf);
  for (const auto& t : g->index.tensors()) {
    if (t.name == "blk.3.ffn_up.weight") continue;
    auto bytes = std::make_shared<std::string>(all.substr(t.offset, t.nbytes));
    w.add_tensor(t.name, *t.dtype, t.shape,
                 [bytes](AtomicFileWriter& f) { return f.write(bytes->data(), bytes->size()); });
  }
  ASSERT_TRUE(w.write(dir_ + "/missing.gguf").is_ok());
  expect_clean_error(run("run -m " + dir_ + "/missing.gguf"), "blk.3.ffn_up.weight", "missing");

  // Cut the file inside the last tensor: its byte range now runs past the end.
  write_all(dir_ + "/short.gguf", all.substr(0, all.size() - 100));
  expect_clean_error(run("run -m " + dir_ + "/short.gguf"), "past the end", "tensor past EOF");

  // A Hugging Face directory with an I64 weight.
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.arch_name = "llama";
  c.n_layer = 1;
  c.n_embd = 8;
  c.n_head = 2;
  c.n_head_kv = 2;
  c.head_dim = 4;
  c.n_ff = 16;
  c.n_vocab = 16;
  c.n_ctx_train = 32;
  c.rope_style = RopeStyle::kNeox;
  RandomModelOptions o;
  o.dtype = DType::kF32;
  ASSERT_TRUE(write_random_hf(c, o, dir_ + "/hf").is_ok());
  auto j = nlohmann::json::parse(read_all(dir_ + "/hf/config.json"));
  SafetensorsWriter sw;
  sw.add_tensor_raw("model.embed_tokens.weight", "I64", {16, 8}, std::string(16 * 8 * 8, '\0'));
  std::filesystem::remove_all(dir_ + "/hf2");
  std::filesystem::create_directory(dir_ + "/hf2");
  ASSERT_TRUE(sw.write(dir_ + "/hf2/model.safetensors").is_ok());
  write_all(dir_ + "/hf2/config.json", j.dump());
  expect_clean_error(run("run -m " + dir_ + "/hf2"), "I64", "unsupported dtype");
}

TEST_F(CliBadInput, ShardIndexOutsideTheDirectory) {
  std::filesystem::create_directory(dir_ + "/m");
  write_all(dir_ + "/m/config.json", R"({"model_type": "llama", "hidden_size": 8})");
  write_all(dir_ + "/m/model.safetensors.index.json",
            R"({"weight_map": {"model.embed_tokens.weight": "../outside.safetensors"}})");
  expect_clean_error(run("run -m " + dir_ + "/m"), "outside.safetensors", "shard outside");
}

TEST_F(CliBadInput, PlacementOptionsThatCannotWork) {
  const std::string m = "run -m " + kGguf + " -n 1 --temp 0 ";
  expect_clean_error(run(m + "--ram-budget 1M"), "or more", "budget too small");
  expect_clean_error(run(m + "--ram-budget 5Q"), "unknown size unit", "bad size unit");
  expect_clean_error(run(m + "--offload-to tape"), "--offload-to must be", "bad tier");
  expect_clean_error(run(m + "--prefetch 99"), "--prefetch must be", "prefetch range");
  expect_clean_error(run(m + "--gpu-layers lots"), "--gpu-layers must be", "bad layer count");
  expect_clean_error(run(m + "--keep middle"), "--keep must be", "bad keep policy");
  expect_clean_error(run(m + "--device gpu"), "--device must be", "unknown device");
  expect_clean_error(run(m + "--device sim --sim-vram 64K -ngl 0"), "device memory",
                     "sim too small");
}

TEST_F(CliBadInput, UnknownArchitectures) {
  auto g = parse_gguf(kGguf);
  ASSERT_TRUE(g.is_ok());
  GgufWriter w;
  for (const auto& [k, v] : g->meta) w.set(k, v);
  w.set("general.architecture", MetaValue::of_string("falcon"));
  ASSERT_TRUE(w.write(dir_ + "/falcon.gguf").is_ok());
  expect_clean_error(run("run -m " + dir_ + "/falcon.gguf"), "unsupported architecture 'falcon'",
                     "gguf arch");
  std::filesystem::create_directory(dir_ + "/neox");
  write_all(dir_ + "/neox/config.json", R"({"model_type": "gpt_neox"})");
  SafetensorsWriter sw;
  sw.add_tensor_f32("x", DType::kF32, {1}, {0.0f});
  ASSERT_TRUE(sw.write(dir_ + "/neox/model.safetensors").is_ok());
  expect_clean_error(run("run -m " + dir_ + "/neox"), "unsupported model_type 'gpt_neox'",
                     "hf arch");
}

TEST_F(CliBadInput, MissingFileAndBadOptions) {
  expect_clean_error(run("run -m " + dir_ + "/nope.gguf"), "nope.gguf", "missing file");
  Output o = run("run --temp -1");
  EXPECT_NE(o.code, 0);
}

}  // namespace
}  // namespace strata
