#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include "core/quant/codecs.h"

namespace strata {

namespace quant {

// (n == 0 may come with null pointers: an empty tensor's values; memcpy must not see those.)
void f32_to_float(const void* src, float* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, src, n * 4);
}
void f32_from_float(const float* src, void* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, src, n * 4);
}

void f16_to_float(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}

}  // namespace quant

namespace {

using namespace quant;

// Every ggml type, in id order. Ids 4, 5 and 31..33 were removed from ggml; types without a
// codec are still sized so their tensors can be skipped and named in errors.
constexpr TypeTraits kTypes[] = {
    {"F32", DType::kF32, 1, 4, f32_to_float, f32_from_float, true},
    {"F16", DType::kF16, 1, 2, f16_to_float, f16_from_float, true},
    {"Q4_0", DType::kQ4_0, 32, 18, q4_0_to_float, q4_0_from_float, true},
    {"Q4_1", DType::kQ4_1, 32, 20, q4_1_to_float, q4_1_from_float, true},
    {"Q5_0", DType::kQ5_0, 32, 22, q5_0_to_float, q5_0_from_float, true},
    {"Q5_1", DType::kQ5_1, 32, 24, q5_1_to_float, q5_1_from_float, true},
    {"Q8_0", DType::kQ8_0, 32, 34, q8_0_to_float, q8_0_from_float, true},
    {"Q8_1", DType::kQ8_1, 32, 36, q8_1_to_float, q8_1_from_float},
    {"Q2_K", DType::kQ2_K, 256, 84, q2_k_to_float, q2_k_from_float, true},
    {"Q3_K", DType::kQ3_K, 256, 110, q3_k_to_float, q3_k_from_float, true},
    {"Q4_K", DType::kQ4_K, 256, 144, q4_k_to_float, q4_k_from_float, true},
    {"Q5_K", DType::kQ5_K, 256, 176, q5_k_to_float, q5_k_from_float, true},
    {"Q6_K", DType::kQ6_K, 256, 210, q6_k_to_float, q6_k_from_float, true},
    {"Q8_K", DType::kQ8_K, 256, 292, q8_k_to_float, q8_k_from_float},
    {"IQ2_XXS", DType::kIQ2_XXS, 256, 66},
    {"IQ2_XS", DType::kIQ2_XS, 256, 74},
    {"IQ3_XXS", DType::kIQ3_XXS, 256, 98},
    {"IQ1_S", DType::kIQ1_S, 256, 50},
    {"IQ4_NL", DType::kIQ4_NL, 32, 18, iq4_nl_to_float, iq4_nl_from_float, true},
    {"IQ3_S", DType::kIQ3_S, 256, 110},
    {"IQ2_S", DType::kIQ2_S, 256, 82},
    {"IQ4_XS", DType::kIQ4_XS, 256, 136, iq4_xs_to_float, iq4_xs_from_float, true},
    {"I8", DType::kI8, 1, 1},
    {"I16", DType::kI16, 1, 2},
    {"I32", DType::kI32, 1, 4},
    {"I64", DType::kI64, 1, 8},
    {"F64", DType::kF64, 1, 8},
    {"IQ1_M", DType::kIQ1_M, 256, 56},
    {"BF16", DType::kBF16, 1, 2, bf16_to_float, bf16_from_float, true},
    {"TQ1_0", DType::kTQ1_0, 256, 54},
    {"TQ2_0", DType::kTQ2_0, 256, 66},
};

constexpr uint32_t kMaxId = 36;

constexpr std::array<int, kMaxId> make_index() {
  std::array<int, kMaxId> idx{};
  for (auto& v : idx) v = -1;
  for (int i = 0; i < static_cast<int>(std::size(kTypes)); ++i) {
    idx[static_cast<uint32_t>(kTypes[i].type)] = i;
  }
  return idx;
}
constexpr std::array<int, kMaxId> kIndex = make_index();

}  // namespace

const TypeTraits* find_type(uint32_t ggml_id) {
  if (ggml_id >= kMaxId || kIndex[ggml_id] < 0) return nullptr;
  return &kTypes[kIndex[ggml_id]];
}

const TypeTraits& type_traits(DType t) { return *find_type(static_cast<uint32_t>(t)); }

std::optional<DType> computable_dtype_by_name(std::string_view name) {
  for (const TypeTraits& t : kTypes) {
    if (!t.weights || t.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      same = std::toupper(static_cast<unsigned char>(name[i])) == t.name[i];
    }
    if (same) return t.type;
  }
  return std::nullopt;
}

}  // namespace strata
