#pragma once
// Scratch directories the tests share (tests/cli and tests/engine): each one made here is
// removed, with what is in it, when the test program ends, so a test that fails half-way does
// not leave its files in /tmp.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

namespace strata::test {

namespace temp_dir_detail {
inline std::vector<std::string>& made() {
  static std::vector<std::string> dirs;
  return dirs;
}
class RemoveAtExit : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    for (const auto& d : made()) std::filesystem::remove_all(d, ec);
  }
};
inline ::testing::Environment* const kRegistered =
    ::testing::AddGlobalTestEnvironment(new RemoveAtExit);
}  // namespace temp_dir_detail

// A fresh directory under testing::TempDir() named strata_<tag>_XXXXXX.
inline std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = ::testing::TempDir() + "strata_" + tag + "_XXXXXX";
  const char* p = mkdtemp(tmpl.data());
  EXPECT_NE(p, nullptr) << tmpl;
  if (p != nullptr) temp_dir_detail::made().push_back(tmpl);
  return tmpl;
}

}  // namespace strata::test
