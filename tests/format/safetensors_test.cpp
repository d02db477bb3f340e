// Safetensors reader and writer: a round trip, then malformed files, each of which must give
// an error that names the file (and the tensor, where there is one).

#include "format/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/file.h"
#include "format/format_test_util.h"
#include "format/gguf_writer.h"
#include "format/safetensors_writer.h"

namespace strata {
namespace {

using test_util::ScratchDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr const char* kName = "bad.safetensors";

// u64 header length, the header, then `data`.
std::string st_bytes(std::string_view header, std::string_view data = {}) {
  test_util::Bytes b;
  b.u64(header.size()).raw(header).raw(data);
  return b.str();
}

std::string parse_error(std::string_view bytes) {
  auto r = parse_safetensors_bytes(bytes, kName);
  return r.is_ok() ? "(parsed)" : r.status().message();
}

std::string encoded(const std::vector<float>& v, DType dtype) {
  std::string s;
  encode_floats(v.data(), v.size(), dtype, &s);
  return s;
}

std::string read_tensor(const std::string& path, const TensorInfo& t) {
  auto f = File::open(path);
  EXPECT_TRUE(f.is_ok());
  std::string s(t.nbytes, '\0');
  EXPECT_TRUE(f->read_at(t.offset, s.data(), s.size()).is_ok());
  return s;
}

TEST(Safetensors, WriterRoundTrip) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  const std::vector<float> a = {1, -2, 3.5f, 4, 5, 6};
  const std::vector<float> b = {0.1f, 0.2f, 0.3f};
  w.add_tensor_f32("model.embed_tokens.weight", DType::kF32, {2, 3}, a);
  w.add_tensor_f32("b.f16", DType::kF16, {3}, b);  // 6 bytes: leaves the next one unaligned
  w.add_tensor_f32("a.bf16", DType::kBF16, {1, 3}, b);
  w.add_tensor_raw("position_ids", "I64", {2}, std::string(16, '\x01'));
  w.add_tensor_f32("empty", DType::kF32, {0, 4}, {});
  w.add_tensor_f32("scalar", DType::kF32, {}, {7});
  ASSERT_TRUE(w.write(path).is_ok());
  EXPECT_EQ(w.total_tensor_bytes(), 24u + 6 + 6 + 16 + 0 + 4);

  auto r = parse_safetensors(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->header_bytes % 8, 0u);
  EXPECT_EQ(r->data_offset, 8 + r->header_bytes);
  EXPECT_EQ(r->metadata.at("format"), "pt");
  ASSERT_EQ(r->index.size(), 6u);
  EXPECT_EQ(r->index.files, std::vector<std::string>{path});
  // File order: the order added (the empty tensor shares its offset with the next one).
  EXPECT_EQ(r->index.tensors()[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(r->index.tensors()[1].name, "b.f16");

  const TensorInfo* ta = r->index.find("model.embed_tokens.weight");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->dtype, DType::kF32);
  EXPECT_EQ(ta->dtype_name, "F32");
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ta->offset, r->data_offset);
  EXPECT_EQ(ta->nbytes, 24u);
  EXPECT_EQ(read_tensor(path, *ta), encoded(a, DType::kF32));

  const TensorInfo* tb = r->index.find("b.f16");
  EXPECT_EQ(tb->dtype, DType::kF16);
  EXPECT_EQ(read_tensor(path, *tb), encoded(b, DType::kF16));
  const TensorInfo* tc = r->index.find("a.bf16");
  EXPECT_EQ(tc->dtype, DType::kBF16);
  EXPECT_EQ(tc->shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(read_tensor(path, *tc), encoded(b, DType::kBF16));

  const TensorInfo* td = r->index.find("position_ids");
  EXPECT_FALSE(td->dtype.has_value());
  EXPECT_EQ(td->dtype_name, "I64");
  EXPECT_EQ(td->nbytes, 16u);
  EXPECT_EQ(r->index.find("empty")->nbytes, 0u);
  EXPECT_EQ(r->index.find("scalar")->shape, std::vector<int64_t>{});
  EXPECT_EQ(read_tensor(path, *r->index.find("scalar")), encoded({7}, DType::kF32));

  // The bytes parser agrees with the file parser.
  auto m = parse_safetensors_bytes(test_util::read_bytes(path), path);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->index.find("a.bf16")->offset, tc->offset);
}

TEST(Safetensors, WriterRejectsBadInput) {
  ScratchDir dir;
  {
    SafetensorsWriter w;
    w.add_tensor_f32("x", DType::kF32, {1}, {1});
    w.add_tensor_f32("x", DType::kF32, {1}, {1});
    EXPECT_THAT(w.write(dir.file("dup.safetensors")).message(), HasSubstr("added twice"));
  }
  {
    SafetensorsWriter w;
    w.add_tensor_raw("x", "F17", {1}, "a");
    EXPECT_THAT(w.write(dir.file("dtype.safetensors")).message(), HasSubstr("unknown dtype"));
  }
  {
    SafetensorsWriter w;  // a callback writing the wrong byte count
    w.add_tensor("x", DType::kF32, {4}, [](AtomicFileWriter& f) { return f.write("abc", 3); });
    EXPECT_THAT(w.write(dir.file("short.safetensors")).message(),
                AllOf(HasSubstr("'x'"), HasSubstr("wrote 3 bytes, expected 16")));
    EXPECT_FALSE(File::open(dir.file("short.safetensors")).is_ok()) << "not atomic";
  }
}

TEST(Safetensors, TruncatedAtEveryOffset) {
  ScratchDir dir;
  const std::string path = dir.file("t.safetensors");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (int i = 0; i < 40; ++i) {
    std::vector<float> v(8 + i, 0.5f * static_cast<float>(i));
    w.add_tensor_f32(fmt::format("model.layers.{}.weight", i), i % 2 ? DType::kF16 : DType::kF32,
                     {static_cast<int64_t>(v.size())}, v);
  }
  ASSERT_TRUE(w.write(path).is_ok());
  const std::string full = test_util::read_bytes(path);
  ASSERT_TRUE(parse_safetensors_bytes(full, "full").is_ok());
  int wrong = 0;
  std::string first_wrong;
  for (size_t cut = 0; cut < full.size(); ++cut) {
    auto r = parse_safetensors_bytes(std::string_view(full).substr(0, cut), "cut.safetensors");
    if (r.is_ok() || r.status().message().find("cut.safetensors") == std::string::npos) {
      if (wrong++ == 0) {
        first_wrong = fmt::format("cut {}: {}", cut, r.is_ok() ? "parsed" : r.status().message());
      }
    }
  }
  EXPECT_EQ(wrong, 0) << "of " << full.size() << " cuts; first: " << first_wrong;

  for (size_t cut : {size_t{0}, size_t{7}, size_t{100}, full.size() - 1}) {
    const std::string cut_path = dir.file(fmt::format("cut{}.safetensors", cut));
    test_util::write_bytes(cut_path, std::string_view(full).substr(0, cut));
    auto r = parse_safetensors(cut_path);
    ASSERT_FALSE(r.is_ok()) << cut;
    EXPECT_THAT(r.status().message(), AllOf(HasSubstr(cut_path), HasSubstr("truncated")));
  }
}

TEST(Safetensors, HeaderLength) {
  test_util::Bytes huge;
  huge.u64(1ull << 60).raw("{}");
  EXPECT_THAT(parse_error(huge.str()), AllOf(HasSubstr(kName), HasSubstr("exceeds")));
  test_util::Bytes past;
  past.u64(100).raw("{}");
  EXPECT_THAT(parse_error(past.str()), AllOf(HasSubstr(kName), HasSubstr("header claims 100")));
  EXPECT_THAT(parse_error("abc"), AllOf(HasSubstr(kName), HasSubstr("too short")));
  EXPECT_TRUE(parse_safetensors_bytes(st_bytes("{}"), kName).is_ok());
  EXPECT_TRUE(parse_safetensors_bytes(st_bytes("{}      "), kName).is_ok());  // space padding
}

TEST(Safetensors, InvalidJson) {
  for (const char* header : {"", "{", "{\"a\": }", "not json", "{\"a\":1}}", "{\"\xff\": 1}",
                             "{} trailing", "{\"a\": {\"dtype\": \"F32\",}}"}) {
    EXPECT_THAT(parse_error(st_bytes(header)), AllOf(HasSubstr(kName), HasSubstr("not valid JSON")))
        << header;
  }
  EXPECT_THAT(parse_error(st_bytes("[1, 2]")), HasSubstr("must be a JSON object"));
  EXPECT_THAT(parse_error(st_bytes("\"x\"")), HasSubstr("must be a JSON object"));
  // Deep nesting must not overflow the stack.
  std::string deep(100000, '[');
  EXPECT_THAT(parse_error(st_bytes("{\"a\":" + deep + "}")), HasSubstr("not valid JSON"));
  deep += std::string(100000, ']');
  EXPECT_THAT(parse_error(st_bytes("{\"a\":" + deep + "}")), HasSubstr("expected an object"));
}

TEST(Safetensors, DuplicateKeys) {
  const std::string t = R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  EXPECT_THAT(parse_error(st_bytes("{\"w\": " + t + ", \"w\": " + t + "}", "abcd")),
              AllOf(HasSubstr(kName), HasSubstr("'w' twice")));
  EXPECT_THAT(
      parse_error(st_bytes(
          R"({"w": {"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [0, 4]}})",
          "abcd")),
      HasSubstr("'dtype' twice"));
}

// One-tensor headers around `entry`, with `data_bytes` bytes of data.
std::string one(const std::string& entry, size_t data_bytes = 16) {
  return st_bytes("{\"model.norm.weight\": " + entry + "}", std::string(data_bytes, '\0'));
}

TEST(Safetensors, BadEntries) {
  struct Case {
    std::string entry;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {R"("F32")", "expected an object"},
      {R"({"shape": [4], "data_offsets": [0, 16]})", "\"dtype\""},
      {R"({"dtype": 32, "shape": [4], "data_offsets": [0, 16]})", "\"dtype\""},
      {R"({"dtype": "F17", "shape": [4], "data_offsets": [0, 16]})", "unknown dtype 'F17'"},
      {R"({"dtype": "f32", "shape": [4], "data_offsets": [0, 16]})", "unknown dtype 'f32'"},
      {R"({"dtype": "F32", "data_offsets": [0, 16]})", "\"shape\""},
      {R"({"dtype": "F32", "shape": 4, "data_offsets": [0, 16]})", "\"shape\""},
      {R"({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]})", "non-negative integer"},
      {R"({"dtype": "F32", "shape": [4.0], "data_offsets": [0, 16]})", "non-negative integer"},
      {R"({"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]})", "non-negative integer"},
      {R"({"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 16]})",
       "non-negative integer"},
      {R"({"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]})",
       "overflows"},
      {R"({"dtype": "F32", "shape": [4611686018427387904, 4, 0], "data_offsets": [0, 0]})",
       "overflows"},
      {R"({"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 16]})", "overflow"},
      {R"({"dtype": "F4", "shape": [3], "data_offsets": [0, 1]})", "whole bytes"},
      {R"({"dtype": "F32", "shape": [4]})", "data_offsets"},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [0]})", "data_offsets"},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 16, 32]})", "data_offsets"},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [-1, 16]})", "data_offsets"},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": {"begin": 0}})", "data_offsets"},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [16, 0]})", "begin 16 > end 0"},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [8, 24]})", "run past the end"},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 18446744073709551615]})",
       "data_offsets"},
      {R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 16]})", "needs 8"},
      {R"({"dtype": "F16", "shape": [4], "data_offsets": [0, 16]})", "needs 8"},
      {R"({"dtype": "F32", "shape": [0], "data_offsets": [0, 16]})", "needs 0"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(parse_error(one(c.entry)),
                AllOf(HasSubstr(kName), HasSubstr("'model.norm.weight'"), HasSubstr(c.expect)))
        << c.entry;
  }
}

TEST(Safetensors, OffsetsPastTheEnd) {
  // 16 bytes of data; the tensor claims [0, 16) but only 10 bytes are there.
  EXPECT_THAT(parse_error(one(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]})", 10)),
              AllOf(HasSubstr(kName), HasSubstr("'model.norm.weight'"),
                    HasSubstr("run past the end of the data section (10 bytes)")));
}

TEST(Safetensors, Overlaps) {
  const std::string header =
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  EXPECT_THAT(parse_error(st_bytes(header, std::string(12, '\0'))),
              AllOf(HasSubstr(kName), HasSubstr("'a'"), HasSubstr("'b'"), HasSubstr("overlap")));
  // Empty tensors overlap nothing; gaps are allowed.
  const std::string fine =
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]},
          "b": {"dtype": "U8", "shape": [2], "data_offsets": [10, 12]}})";
  auto r = parse_safetensors_bytes(st_bytes(fine, std::string(12, '\0')), kName);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->index.tensors()[0].name, "a");
  EXPECT_EQ(r->index.tensors()[1].name, "e");
  EXPECT_EQ(r->index.tensors()[2].name, "b");
  EXPECT_EQ(r->index.find("b")->offset, r->data_offset + 10);
}

TEST(Safetensors, UnsupportedDtypesAreKeptByName) {
  const std::vector<std::pair<std::string, int>> dtypes = {
      {"F64", 8},     {"I64", 8},     {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1}, {"BOOL", 1},
      {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"C64", 8}};
  std::string header = "{";
  uint64_t at = 0;
  for (const auto& [name, size] : dtypes) {
    if (header.size() > 1) header += ",";
    header += fmt::format(R"("t.{}": {{"dtype": "{}", "shape": [2, 3], "data_offsets": [{}, {}]}})",
                          name, name, at, at + 6 * size);
    at += 6 * size;
  }
  header += R"(, "t.F4": {"dtype": "F4", "shape": [4], "data_offsets": [)" + std::to_string(at) +
            ", " + std::to_string(at + 2) + "]}}";
  auto r = parse_safetensors_bytes(st_bytes(header, std::string(at + 2, '\0')), kName);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  for (const auto& [name, size] : dtypes) {
    const TensorInfo* t = r->index.find("t." + name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_FALSE(t->dtype.has_value()) << name;
    EXPECT_EQ(t->dtype_name, name);
    EXPECT_EQ(t->nbytes, 6u * size) << name;
  }
  EXPECT_EQ(r->index.find("t.F4")->nbytes, 2u);
}

TEST(Safetensors, Metadata) {
  auto ok =
      parse_safetensors_bytes(st_bytes(R"({"__metadata__": {"format": "pt", "x": ""}})"), kName);
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->metadata.size(), 2u);
  EXPECT_EQ(ok->index.size(), 0u);
  EXPECT_THAT(parse_error(st_bytes(R"({"__metadata__": {"format": 1}})")),
              AllOf(HasSubstr(kName), HasSubstr("'format' must be a string")));
  EXPECT_THAT(parse_error(st_bytes(R"({"__metadata__": ["pt"]})")),
              AllOf(HasSubstr(kName), HasSubstr("must be an object")));
}

TEST(Safetensors, ErrorsFromFilesNameThePath) {
  ScratchDir dir;
  const std::string path = dir.file("m.safetensors");
  test_util::write_bytes(path, one(R"({"dtype": "Q4", "shape": [4], "data_offsets": [0, 16]})"));
  EXPECT_THAT(parse_safetensors(path).status().message(),
              AllOf(HasSubstr(path), HasSubstr("'model.norm.weight'"), HasSubstr("unknown dtype")));
  EXPECT_THAT(parse_safetensors(dir.file("absent.safetensors")).status().message(),
              AllOf(HasSubstr("absent.safetensors"), HasSubstr("cannot open")));
  EXPECT_THAT(parse_safetensors(dir.path()).status().message(),
              AllOf(HasSubstr(dir.path()), HasSubstr("not a regular file")));
}

}  // namespace
}  // namespace strata
