// strata quantize on mixtures of experts: llama-quantize's tensor types and file size for every
// mix (tests/data/moe_reference/llama_quantize.json: stacked experts' ffn_down_exps as ffn_down,
// routers kept F32, an 8-expert model's attn_k/attn_v in Q8_0), and a Hugging Face directory's
// per-expert tensors stacked into the same GGUF a GGUF source gives.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli/cli_util.h"

namespace strata {
namespace {

const std::string kRefDir = std::string(STRATA_SOURCE_DIR) + "/tests/data/moe_reference";

std::string args_of(const nlohmann::json& a) {
  std::string s;
  for (const auto& v : a) s += " " + v.get<std::string>();
  return s;
}

// {tensor: type}, a layer tensor's types joined layer by layer (the reference's form).
std::map<std::string, std::string> tensor_types(const std::string& model, int n_layer) {
  const test::CliOutput o = test::run_cli("inspect --json --all " + model);
  EXPECT_EQ(o.code, 0) << o.err;
  std::map<std::string, std::vector<std::string>> per;
  std::map<std::string, std::string> out;
  static const std::regex re(R"(blk\.(\d+)\.(.+))");
  const nlohmann::json j = nlohmann::json::parse(o.out);
  for (const auto& t : j["tensors"]) {
    const std::string name = t["name"];
    std::smatch m;
    if (std::regex_match(name, m, re)) {
      auto& v = per[m[2].str()];
      v.resize(n_layer);
      v[std::stoi(m[1].str())] = t["dtype"];
    } else {
      out[name] = t["dtype"];
    }
  }
  for (const auto& [k, v] : per) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
    out[k] = s;
  }
  return out;
}

TEST(MoeQuantize, EveryMixChoosesLlamaQuantizesTypes) {
  std::ifstream f(kRefDir + "/llama_quantize.json");
  ASSERT_TRUE(f.good());
  const nlohmann::json ref = nlohmann::json::parse(f);
  const std::string dir = test::make_temp_dir("moe-quantize");
  for (const auto& [shape, rec] : ref.items()) {
    const std::string src = dir + "/" + shape + ".gguf";
    test::CliOutput o = test::run_cli("make-model" + args_of(rec["make_model"]) + " -o " + src);
    ASSERT_EQ(o.code, 0) << o.err;
    for (const auto& [mix, want] : rec["types"].items()) {
      const std::string out = dir + "/" + shape + "-" + mix + ".gguf";
      o = test::run_cli("quantize " + src + " " + out + " " + mix);
      ASSERT_EQ(o.code, 0) << shape << " " << mix << ": " << o.err;
      EXPECT_EQ(tensor_types(out, 8),
                (want["tensor_types"].get<std::map<std::string, std::string>>()))
          << shape << " " << mix;
      EXPECT_EQ(test::read_all(out).size(), want["file_bytes"].get<size_t>())
          << shape << " " << mix;
      std::filesystem::remove(out);
    }
  }
  std::filesystem::remove_all(dir);
}

// The same weights as a Hugging Face directory (one tensor per expert, rotate-half q/k for
// Mixtral): its quantized GGUF holds stacked experts and computes the same logits, bit for bit.
TEST(MoeQuantize, HuggingFaceExpertsAreStacked) {
  const std::string dir = test::make_temp_dir("moe-quantize-hf");
  test::write_all(dir + "/prompt.txt", "Once upon a time, there was a little girl");
  for (const char* shape : {"tiny-mixtral", "tiny-qwen3moe"}) {
    const std::string make = std::string("make-model --shape ") + shape + " --seed 2 --dtype f16";
    test::CliOutput o = test::run_cli(make + " -o " + dir + "/src.gguf");
    ASSERT_EQ(o.code, 0) << o.err;
    o = test::run_cli(make + " --format safetensors -o " + dir + "/hf");
    ASSERT_EQ(o.code, 0) << o.err;
    std::vector<std::string> logits;
    for (const char* from : {"/src.gguf", "/hf"}) {
      const std::string out = dir + "/q.gguf";
      o = test::run_cli("quantize " + dir + from + " " + out + " Q4_K_M");
      ASSERT_EQ(o.code, 0) << shape << from << ": " << o.err;
      const auto types = tensor_types(out, 2);
      EXPECT_EQ(types.at("ffn_down_exps.weight"), "Q4_K Q6_K") << shape << from;  // last 8th
      EXPECT_EQ(types.at("ffn_gate_inp.weight"), "F32 F32") << shape << from;
      EXPECT_EQ(types.count("ffn_gate.0.weight"), 0u) << shape << from;
      o = test::run_cli("run -m " + out + " -f " + dir + "/prompt.txt -n 1 --temp 0 -q " +
                        "--dump-logits " + dir + "/logits.f32");
      ASSERT_EQ(o.code, 0) << o.err;
      logits.push_back(test::read_all(dir + "/logits.f32"));
    }
    EXPECT_EQ(logits[0], logits[1]) << shape;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata
