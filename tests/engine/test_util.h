#pragma once
// Helpers shared by the engine tests.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata::test {

inline const std::string kShared = STRATA_SHARED_DIR;
inline const std::string kStoriesGguf = kShared + "/models/stories260K/stories260K.gguf";
inline const std::string kStoriesBin = kShared + "/models/stories260K/stories260K.bin";
inline const std::string kTok512 = kShared + "/models/stories260K/tok512.bin";

nlohmann::json load_reference();                 // shared/reference/stories260K.json
std::vector<float> load_reference_logits();      // [40 x 512]
std::string make_temp_dir(const std::string& tag);
// Runs a shell command, returns its stdout; *exit_code gets the exit status.
std::string run_command(const std::string& cmd, int* exit_code);

}  // namespace strata::test
