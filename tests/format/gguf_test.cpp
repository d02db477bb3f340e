#include <gtest/gtest.h>

#include "format/gguf.h"

namespace strata {
namespace {

const std::string kData = STRATA_DATA;

TEST(Gguf, ParsesStories260K) {
  auto r = parse_gguf(kData + "/models/stories260K.gguf");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->version, 3u);
  EXPECT_EQ(meta_string(r->meta, "general.architecture").value_or(""), "llama");
  EXPECT_EQ(meta_int(r->meta, "llama.block_count").value_or(0), 5);
  EXPECT_EQ(meta_int(r->meta, "llama.embedding_length").value_or(0), 64);
  const TensorInfo* t = r->index.find("blk.0.attn_q.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(t->dtype, DType::kF32);
  const auto* toks = meta_array(r->meta, "tokenizer.ggml.tokens");
  ASSERT_NE(toks, nullptr);
  EXPECT_EQ(toks->size(), 512u);
}

}  // namespace
}  // namespace strata
