// Bad-input tests for the GGUF reader: every malformed file gives an error Status that names
// the file, never a crash, an abort or an absurd allocation.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "format/format_test_util.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"

namespace strata {
namespace {

using test_util::Bytes;
using test_util::ScratchDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kStories =
    std::string(STRATA_DATA) + "/models/stories260K.gguf";
constexpr const char* kName = "bad.gguf";

// ggml type ids and GGUF metadata value types used below.
constexpr uint32_t kF32 = 0, kQ4K = 12;
constexpr uint32_t kTypeU8 = 0, kTypeU32 = 4, kTypeString = 8, kTypeArray = 9;

Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  return b;
}

// One tensor info; `ne` innermost first, as GGUF stores it.
void tensor_info(Bytes& b, const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                 uint64_t offset) {
  b.gguf_str(name).u32(static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) b.u64(d);
  b.u32(type).u64(offset);
}

std::string parse_error(std::string_view bytes, const std::string& name = kName) {
  auto r = parse_gguf_bytes(bytes, name);
  return r.is_ok() ? "(parsed)" : r.status().message();
}

TEST(GgufMalformed, TruncatedStoriesAtManyOffsets) {
  const std::string full = test_util::read_bytes(kStories);
  ASSERT_GT(full.size(), 1000000u);
  auto whole = parse_gguf_bytes(full, "stories.gguf");
  ASSERT_TRUE(whole.is_ok()) << whole.status().message();
  uint64_t data_end = 0;
  for (const TensorInfo& t : whole->index.tensors()) {
    data_end = std::max(data_end, t.offset + t.nbytes);
  }
  std::vector<uint64_t> cuts;
  for (uint64_t c = 0; c < 4096; ++c) cuts.push_back(c);                                // header
  for (uint64_t c = 4096; c < whole->data_offset + 64; c += 7) cuts.push_back(c);       // metadata
  for (uint64_t c = whole->data_offset; c < full.size(); c += 4093) cuts.push_back(c);  // data
  for (uint64_t c = full.size() - 64; c < full.size(); ++c) cuts.push_back(c);          // end

  int wrong = 0;
  std::string first_wrong;
  for (uint64_t cut : cuts) {
    auto r = parse_gguf_bytes(std::string_view(full).substr(0, cut), "cut.gguf");
    const bool ok_expected = cut >= data_end;
    const bool named = r.is_ok() || r.status().message().find("cut.gguf") != std::string::npos;
    if (r.is_ok() != ok_expected || !named) {
      if (wrong++ == 0) {
        first_wrong = fmt::format("cut {}: {}", cut, r.is_ok() ? "parsed" : r.status().message());
      }
    }
  }
  EXPECT_EQ(wrong, 0) << "of " << cuts.size() << " cuts; first: " << first_wrong;
}

TEST(GgufMalformed, TruncatedFilesOnDisk) {
  const std::string full = test_util::read_bytes(kStories);
  auto whole = parse_gguf_bytes(full, "stories.gguf");
  ASSERT_TRUE(whole.is_ok());
  ScratchDir dir;
  for (uint64_t cut : {uint64_t{0}, uint64_t{3}, uint64_t{23}, uint64_t{1000},
                       whole->data_offset - 1, whole->data_offset + 100, full.size() - 1}) {
    const std::string path = dir.file(fmt::format("cut{}.gguf", cut));
    test_util::write_bytes(path, std::string_view(full).substr(0, cut));
    auto r = parse_gguf(path);
    ASSERT_FALSE(r.is_ok()) << "cut " << cut;
    EXPECT_THAT(r.status().message(), HasSubstr(path));
  }
  EXPECT_THAT(parse_gguf(dir.file("absent.gguf")).status().message(),
              AllOf(HasSubstr("absent.gguf"), HasSubstr("cannot open")));
}

TEST(GgufMalformed, WrongMagic) {
  Bytes b;
  b.raw("GGUX").u32(3).u64(0).u64(0);
  EXPECT_THAT(parse_error(b.str()), AllOf(HasSubstr(kName), HasSubstr("not a GGUF file")));
}

TEST(GgufMalformed, UnsupportedVersions) {
  for (uint32_t version : {1u, 4u, 0xffffffffu}) {
    EXPECT_THAT(parse_error(header(0, 0, version).str()),
                AllOf(HasSubstr(kName), HasSubstr("unsupported GGUF version")))
        << version;
  }
  EXPECT_TRUE(parse_gguf_bytes(header(0, 0, 2).str(), kName).is_ok());
  EXPECT_TRUE(parse_gguf_bytes(header(0, 0, 3).str(), kName).is_ok());
}

TEST(GgufMalformed, AbsurdCounts) {
  EXPECT_THAT(parse_error(header(1ull << 60, 0).zeros(64).str()),
              AllOf(HasSubstr(kName), HasSubstr("tensors")));
  EXPECT_THAT(parse_error(header(0, 1ull << 60).zeros(64).str()),
              AllOf(HasSubstr(kName), HasSubstr("metadata entries")));
}

TEST(GgufMalformed, HugeStringLengths) {
  constexpr uint64_t k100GB = 100'000'000'000ull;
  Bytes key = header(0, 1);
  key.u64(k100GB).raw("general.name");
  EXPECT_THAT(parse_error(key.str()),
              AllOf(HasSubstr(kName), HasSubstr("claims 100000000000 bytes")));

  Bytes value = header(0, 1);
  value.gguf_str("general.name").u32(kTypeString).u64(k100GB).raw("stories");
  EXPECT_THAT(parse_error(value.str()),
              AllOf(HasSubstr(kName), HasSubstr("general.name"), HasSubstr("claims")));
}

TEST(GgufMalformed, HugeArrays) {
  Bytes b = header(0, 1);
  b.gguf_str("tokenizer.ggml.scores").u32(kTypeArray).u32(kTypeU8).u64(1ull << 62).zeros(16);
  EXPECT_THAT(parse_error(b.str()), AllOf(HasSubstr(kName), HasSubstr("elements")));

  Bytes strings = header(0, 1);
  strings.gguf_str("tokenizer.ggml.tokens").u32(kTypeArray).u32(kTypeString).u64(1ull << 40);
  strings.gguf_str("a").gguf_str("b");
  EXPECT_THAT(parse_error(strings.str()), AllOf(HasSubstr(kName), HasSubstr("elements")));
}

TEST(GgufMalformed, BadMetadataValues) {
  Bytes type = header(0, 1);
  type.gguf_str("k").u32(13).u32(0);
  EXPECT_THAT(parse_error(type.str()), HasSubstr("unknown metadata value type 13"));

  Bytes boolean = header(0, 1);
  boolean.gguf_str("k").u32(7).u8(2);
  EXPECT_THAT(parse_error(boolean.str()), AllOf(HasSubstr(kName), HasSubstr("bool")));

  Bytes elem = header(0, 1);
  elem.gguf_str("k").u32(kTypeArray).u32(13).u64(0);
  EXPECT_THAT(parse_error(elem.str()), HasSubstr("unknown array element type"));

  Bytes deep = header(0, 1);
  deep.gguf_str("k").u32(kTypeArray);
  for (int d = 0; d < 10; ++d) deep.u32(kTypeArray).u64(1);
  deep.zeros(32);
  EXPECT_THAT(parse_error(deep.str()), HasSubstr("nested deeper"));

  Bytes dup = header(0, 2);
  dup.gguf_str("k").u32(kTypeU32).u32(1).gguf_str("k").u32(kTypeU32).u32(2);
  EXPECT_THAT(parse_error(dup.str()), AllOf(HasSubstr(kName), HasSubstr("duplicate metadata")));
}

// A header with the given alignment key and one 16-float tensor, then its data.
std::string with_alignment(uint32_t value_type, uint32_t alignment) {
  Bytes b = header(1, 1);
  b.gguf_str("general.alignment").u32(value_type).u32(alignment);
  tensor_info(b, "w", {16}, kF32, 0);
  b.pad_to(64).zeros(64);
  return b.str();
}

TEST(GgufMalformed, BadAlignment) {
  // 1, 2 and 4 are powers of two but would let a tensor start at an address its elements
  // cannot be loaded from (UBSan caught rmsnorm reading a misaligned float).
  for (uint32_t a : {0u, 1u, 2u, 3u, 4u, 48u, 1u << 30}) {
    EXPECT_THAT(parse_error(with_alignment(kTypeU32, a)),
                AllOf(HasSubstr(kName),
                      HasSubstr("general.alignment must be a power of two of at least 8")))
        << a;
  }
  auto ok = parse_gguf_bytes(with_alignment(kTypeU32, 64), kName);
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->alignment, 64u);
  EXPECT_EQ(ok->data_offset % 64, 0u);

  Bytes unaligned = header(1, 0);
  tensor_info(unaligned, "w", {4}, kF32, 4);
  unaligned.pad_to(32).zeros(64);
  EXPECT_THAT(parse_error(unaligned.str()),
              AllOf(HasSubstr(kName), HasSubstr("'w'"), HasSubstr("not a multiple")));
}

TEST(GgufMalformed, DimensionCounts) {
  for (std::vector<uint64_t> ne : {std::vector<uint64_t>{}, std::vector<uint64_t>{1, 1, 1, 1, 1}}) {
    Bytes b = header(1, 0);
    tensor_info(b, "blk.0.attn_q.weight", ne, kF32, 0);
    b.pad_to(32).zeros(32);
    EXPECT_THAT(parse_error(b.str()), AllOf(HasSubstr(kName), HasSubstr("blk.0.attn_q.weight"),
                                            HasSubstr(fmt::format("{} dimensions", ne.size()))));
  }
  Bytes zero = header(1, 0);
  tensor_info(zero, "z", {4, 0}, kF32, 0);
  zero.pad_to(32);
  EXPECT_THAT(parse_error(zero.str()), HasSubstr("absurd dimension"));

  Bytes huge = header(1, 0);
  tensor_info(huge, "h", {1ull << 41, 4}, kF32, 0);
  huge.pad_to(32);
  EXPECT_THAT(parse_error(huge.str()), HasSubstr("absurd dimension 0 = 2199023255552"));

  // Each dimension is plausible; their product is not.
  Bytes product = header(1, 0);
  tensor_info(product, "p", {1048576, 1048576, 1048576}, kF32, 0);
  product.pad_to(32);
  EXPECT_THAT(parse_error(product.str()),
              HasSubstr("tensor 'p' has 1048576 x 1048576 x 1048576 elements, more than 2^50"));
}

TEST(GgufMalformed, TensorPastEnd) {
  Bytes b = header(2, 0);
  tensor_info(b, "a", {4, 4}, kF32, 0);
  tensor_info(b, "output.weight", {4, 4}, kF32, 64);
  b.pad_to(32).zeros(64 + 10);  // the second tensor gets 10 of its 64 bytes
  EXPECT_THAT(parse_error(b.str()), AllOf(HasSubstr(kName), HasSubstr("'output.weight'"),
                                          HasSubstr("runs past the end")));

  Bytes far = header(1, 0);
  tensor_info(far, "a", {4}, kF32, 0xffffffffffffffe0ull);
  far.pad_to(32).zeros(64);
  EXPECT_THAT(parse_error(far.str()), HasSubstr("runs past the end"));
}

TEST(GgufMalformed, UnknownTypeAndDuplicates) {
  Bytes type = header(1, 0);
  tensor_info(type, "a", {4}, 4, 0);  // ids 4 and 5 were removed from ggml
  type.pad_to(32).zeros(32);
  EXPECT_THAT(parse_error(type.str()), AllOf(HasSubstr("'a'"), HasSubstr("unknown ggml type 4")));

  Bytes dup = header(2, 0);
  tensor_info(dup, "a", {4}, kF32, 0);
  tensor_info(dup, "a", {4}, kF32, 32);
  dup.pad_to(32).zeros(64);
  EXPECT_THAT(parse_error(dup.str()), HasSubstr("duplicate tensor name 'a'"));

  Bytes row = header(1, 0);
  tensor_info(row, "q", {100, 2}, kQ4K, 0);
  row.pad_to(32).zeros(512);
  EXPECT_THAT(parse_error(row.str()), HasSubstr("not a multiple of 256"));
}

// Block types are sized from the type table; a type strata computes with gets its DType, one
// it does not (IQ2_XXS: 66 bytes per 256) is sized and named but has none, for the loader to
// refuse by name.
TEST(GgufMalformed, QuantisedTensorsAreSizedFromTheTypeTable) {
  constexpr uint32_t kIq2Xxs = 16;
  Bytes b = header(3, 0);
  tensor_info(b, "blk.0.ffn_down.weight", {512, 3}, kQ4K, 0);
  tensor_info(b, "blk.0.ffn_up.weight", {256, 2}, kIq2Xxs, 896);  // after 864, aligned to 32
  tensor_info(b, "norm", {8}, kF32, 896 + 2 * 66 + 28);            // 1056
  b.pad_to(32).zeros(1056 + 32);
  auto r = parse_gguf_bytes(b.str(), kName);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const TensorInfo* q = r->index.find("blk.0.ffn_down.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::kQ4_K);
  EXPECT_EQ(q->dtype_name, "Q4_K");
  EXPECT_EQ(q->shape, (std::vector<int64_t>{3, 512}));
  EXPECT_EQ(q->nbytes, 3u * 2 * 144);
  EXPECT_EQ(q->offset, r->data_offset);
  const TensorInfo* iq = r->index.find("blk.0.ffn_up.weight");
  ASSERT_NE(iq, nullptr);
  EXPECT_FALSE(iq->dtype.has_value());
  EXPECT_EQ(iq->dtype_name, "IQ2_XXS");
  EXPECT_EQ(iq->nbytes, 2u * 66);
  EXPECT_EQ(r->index.find("norm")->dtype, DType::kF32);
}

// A corrupt count in a very large file passes the bytes-left checks; the parser must still
// refuse to allocate for it. The file is sparse: 16 GiB of size, a few blocks on disk.
TEST(GgufMalformed, HugeClaimsInHugeSparseFile) {
  ScratchDir dir;
  constexpr uint64_t kFileBytes = 16ull << 30;
  struct Case {
    std::string name;
    Bytes bytes;
  };
  std::vector<Case> cases;
  cases.push_back({"array.gguf", header(0, 1)});
  cases.back().bytes.gguf_str("tokenizer.ggml.scores").u32(kTypeArray).u32(kTypeU8).u64(1ull << 33);
  cases.push_back({"string.gguf", header(0, 1)});
  cases.back().bytes.gguf_str("general.name").u32(kTypeString).u64(10ull << 30);
  cases.push_back({"tensors.gguf", header(1ull << 28, 0)});
  for (const Case& c : cases) {
    const std::string path = dir.file(c.name);
    test_util::write_bytes(path, c.bytes.str());
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(kFileBytes)), 0);
    auto r = parse_gguf(path);
    ASSERT_FALSE(r.is_ok()) << c.name;
    EXPECT_THAT(r.status().message(), AllOf(HasSubstr(path), HasSubstr("MiB of memory")));
  }
}

TEST(GgufMalformed, WriterRoundTripStillParses) {
  ScratchDir dir;
  GgufWriter w;
  w.set("general.architecture", MetaValue::of_string("llama"));
  w.set("llama.block_count", MetaValue::of_u32(1));
  w.add_tensor_f32("a", DType::kF16, {2, 3}, {1, 2, 3, 4, 5, 6});
  w.add_tensor_f32("b", DType::kF32, {5}, {1, 2, 3, 4, 5});
  ASSERT_TRUE(w.write(dir.file("ok.gguf"), 64).is_ok());
  auto r = parse_gguf(dir.file("ok.gguf"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->alignment, 64u);
  EXPECT_EQ(r->index.find("a")->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r->index.find("b")->offset % 64, 0u);
}

}  // namespace
}  // namespace strata
