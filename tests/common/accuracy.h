#pragma once
// Helpers the accuracy tests share (tests/cli and tests/engine): stored float32 logits and the
// relative RMS error every reference comparison in strata is stated in.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace strata::test {

// A file of raw float32 values (logits written by --dump-logits or a reference script).
inline std::vector<float> read_floats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), {});
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// Relative RMS error of x against ref: sqrt(sum (x - ref)^2 / sum ref^2), in double.
template <typename Ref>
double rel_rmse(const std::vector<float>& x, const std::vector<Ref>& ref) {
  double e = 0, n = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(ref[i]);
    e += d * d;
    n += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  return std::sqrt(e / n);
}

}  // namespace strata::test
