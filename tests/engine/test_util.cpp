#include "engine/test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/quantize.h"
#include "model/shapes.h"

namespace strata::test {

nlohmann::json load_reference() {
  std::ifstream f(kTestData + "/reference/stories260K.json");
  return nlohmann::json::parse(f);
}

std::vector<float> load_reference_logits() {
  std::ifstream f(kTestData + "/reference/stories260K-runc-n40-logits.f32", std::ios::binary);
  std::vector<float> v(40 * 512);
  f.read(reinterpret_cast<char*>(v.data()), v.size() * sizeof(float));
  EXPECT_TRUE(f.good());
  return v;
}

std::string make_quantized_tiny(const std::string& dir, const std::string& mix, uint64_t seed) {
  auto shape = find_model_shape("tiny-256", 8);
  EXPECT_TRUE(shape.is_ok()) << shape.status().message();
  RandomModelOptions o;
  o.dtype = DType::kF16;
  o.seed = seed;
  o.weight_std = 0.08f;
  EXPECT_TRUE(write_random_gguf(shape->config, o, dir + "/f16.gguf").is_ok());
  auto src = open_model(dir + "/f16.gguf");
  EXPECT_TRUE(src.is_ok()) << src.status().message();
  auto m = parse_quant_mix(mix);
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  const std::string out = dir + "/" + mix + ".gguf";
  if (src.is_ok() && m.is_ok()) {
    Status st = quantize_model(*src, *m, out, {});
    EXPECT_TRUE(st.is_ok()) << st.message();
  }
  return out;
}

std::string run_command(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *exit_code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = pclose(p);
  *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
  EXPECT_TRUE(f.good()) << path;
}

}  // namespace strata::test
