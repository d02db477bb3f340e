#pragma once
// Helpers shared by the engine tests.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/temp_dir.h"  // make_temp_dir

namespace strata::test {

inline const std::string kData = STRATA_DATA;           // the repository's data/
inline const std::string kTestData = STRATA_TEST_DATA;  // tests/data
inline const std::string kStoriesGguf = kData + "/models/stories260K.gguf";
inline const std::string kStoriesBin = kTestData + "/models/stories260K.bin";
inline const std::string kTok512 = kTestData + "/models/tok512.bin";

nlohmann::json load_reference();             // shared/reference/stories260K.json
std::vector<float> load_reference_logits();  // [40 x 512]
// A random tiny-256 model (8 layers, F16 with weight std 0.08 and `seed`) quantized with
// llama.cpp's `mix` ("Q8_0", "Q4_K_M", ...) as <dir>/<mix>.gguf; returns that path. The F16
// source stays beside it as <dir>/f16.gguf.
std::string make_quantized_tiny(const std::string& dir, const std::string& mix, uint64_t seed);
// Runs a shell command, returns its stdout; *exit_code gets the exit status.
std::string run_command(const std::string& cmd, int* exit_code);
// Whole-file reads and writes (plain, non-atomic: tests build malformed files on purpose).
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

}  // namespace strata::test
