// Hugging Face model directories: single file, shards, and the ways an index can point
// outside the directory or disagree with its shards.

#include "format/hf_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file.h"
#include "format/format_test_util.h"
#include "format/safetensors_writer.h"

namespace strata {
namespace {

using nlohmann::json;
using test_util::ScratchDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

const json kConfig = {{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 8}};

// Six small tensors, 48..96 bytes each.
SafetensorsWriter make_writer() {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (int i = 0; i < 6; ++i) {
    std::vector<float> v(12 + 4 * i);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(i * 100 + k);
    w.add_tensor_f32(fmt::format("model.layers.{}.weight", i), DType::kF32,
                     {static_cast<int64_t>(v.size())}, v);
  }
  return w;
}

// A model directory: config.json plus a single model.safetensors, or shards.
void make_model(const std::string& dir, bool sharded) {
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(write_json_file(dir + "/config.json", kConfig).is_ok());
  SafetensorsWriter w = make_writer();
  if (sharded) {
    ASSERT_TRUE(w.write_sharded(dir, 150).is_ok());
  } else {
    ASSERT_TRUE(w.write(dir + "/model.safetensors").is_ok());
  }
}

// Replaces the weight map of `dir`'s index.
void set_weight_map(const std::string& dir, const json& weight_map) {
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  ASSERT_TRUE(write_json_file(dir + "/model.safetensors.index.json", index).is_ok());
}

std::string open_error(const std::string& dir) {
  auto r = open_hf_dir(dir);
  return r.is_ok() ? "(opened)" : r.status().message();
}

TEST(HfDir, SingleFile) {
  ScratchDir tmp;
  make_model(tmp.path(), false);
  test_util::write_bytes(tmp.file("tokenizer.json"), "{}");
  auto r = open_hf_dir(tmp.path() + "/");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->dir, tmp.path());
  EXPECT_EQ(r->config_path, tmp.file("config.json"));
  EXPECT_EQ(r->tokenizer_json_path, tmp.file("tokenizer.json"));
  EXPECT_EQ(r->tokenizer_config_path, "");
  EXPECT_EQ(r->generation_config_path, "");
  EXPECT_EQ(r->weights_index_path, "");
  EXPECT_EQ(r->config, kConfig);
  EXPECT_EQ(r->metadata.at("format"), "pt");
  EXPECT_EQ(r->index.files, std::vector<std::string>{tmp.file("model.safetensors")});
  EXPECT_EQ(r->index.size(), 6u);
}

TEST(HfDir, ShardedRoundTrip) {
  ScratchDir tmp;
  make_model(tmp.path(), true);
  test_util::write_bytes(tmp.file("generation_config.json"), "{}");
  test_util::write_bytes(tmp.file("tokenizer_config.json"), "{}");
  auto r = open_hf_dir(tmp.path());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->weights_index_path, tmp.file("model.safetensors.index.json"));
  EXPECT_EQ(r->generation_config_path, tmp.file("generation_config.json"));
  EXPECT_EQ(r->tokenizer_config_path, tmp.file("tokenizer_config.json"));
  // 48, 64, 80, 96, 112, 128 bytes with at most 150 per shard: 48+64 | 80 | 96 | 112 | 128.
  ASSERT_EQ(r->index.files.size(), 5u);
  EXPECT_EQ(r->index.files[0], tmp.file("model-00001-of-00005.safetensors"));
  EXPECT_EQ(r->index.files[4], tmp.file("model-00005-of-00005.safetensors"));
  ASSERT_EQ(r->index.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    const TensorInfo* t = r->index.find(fmt::format("model.layers.{}.weight", i));
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->file_index, static_cast<uint32_t>(i < 2 ? 0 : i - 1));
    auto f = File::open(r->index.files[t->file_index]);
    ASSERT_TRUE(f.is_ok());
    float last = 0;
    ASSERT_TRUE(f->read_at(t->offset + t->nbytes - 4, &last, 4).is_ok());
    EXPECT_EQ(last, static_cast<float>(i * 100 + 12 + 4 * i - 1));
  }
  auto index = json::parse(test_util::read_bytes(tmp.file("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 48 + 64 + 80 + 96 + 112 + 128);
  EXPECT_EQ(index["weight_map"]["model.layers.2.weight"], "model-00002-of-00005.safetensors");

  // One shard when everything fits.
  ScratchDir one;
  ASSERT_TRUE(write_json_file(one.file("config.json"), kConfig).is_ok());
  ASSERT_TRUE(make_writer().write_sharded(one.path(), 1 << 20).is_ok());
  auto r1 = open_hf_dir(one.path());
  ASSERT_TRUE(r1.is_ok()) << r1.status().message();
  EXPECT_EQ(r1->index.files,
            std::vector<std::string>{one.file("model-00001-of-00001.safetensors")});
}

TEST(HfDir, ShardOutsideTheDirectory) {
  ScratchDir tmp;
  const std::string dir = tmp.file("model");
  make_model(dir, true);
  ASSERT_TRUE(make_writer().write(tmp.file("outside.safetensors")).is_ok());

  set_weight_map(dir, {{"model.layers.0.weight", "../outside.safetensors"}});
  EXPECT_THAT(open_error(dir), AllOf(HasSubstr("model.safetensors.index.json"),
                                     HasSubstr("'../outside.safetensors'"), HasSubstr("'..'")));
  set_weight_map(dir, {{"model.layers.0.weight", "sub/../../outside.safetensors"}});
  EXPECT_THAT(open_error(dir), HasSubstr("'..' component"));

  set_weight_map(dir, {{"model.layers.0.weight", "/etc/passwd"}});
  EXPECT_THAT(open_error(dir), AllOf(HasSubstr("model.safetensors.index.json"),
                                     HasSubstr("'/etc/passwd'"), HasSubstr("absolute")));

  ASSERT_EQ(::symlink("../outside.safetensors", (dir + "/evil.safetensors").c_str()), 0);
  set_weight_map(dir, {{"model.layers.0.weight", "evil.safetensors"}});
  EXPECT_THAT(open_error(dir),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("'evil.safetensors'"),
                    HasSubstr("outside the model directory")));

  // A symlinked directory that leads outside, too.
  ASSERT_EQ(::symlink(tmp.path().c_str(), (dir + "/up").c_str()), 0);
  set_weight_map(dir, {{"model.layers.0.weight", "up/outside.safetensors"}});
  EXPECT_THAT(open_error(dir), HasSubstr("outside the model directory"));

  // config.json itself may not lead outside either.
  ScratchDir tmp2;
  make_model(tmp2.path(), false);
  ASSERT_EQ(::unlink(tmp2.file("config.json").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", tmp2.file("config.json").c_str()), 0);
  EXPECT_THAT(open_error(tmp2.path()), AllOf(HasSubstr("'config.json'"), HasSubstr("outside")));
}

TEST(HfDir, SymlinksInsideAreFine) {
  ScratchDir tmp;
  make_model(tmp.path(), true);
  std::filesystem::create_directories(tmp.file("store"));
  std::filesystem::rename(tmp.file("model-00003-of-00005.safetensors"), tmp.file("store/s3"));
  ASSERT_EQ(::symlink("store/s3", tmp.file("model-00003-of-00005.safetensors").c_str()), 0);
  auto r = open_hf_dir(tmp.path());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->index.files[2], tmp.file("model-00003-of-00005.safetensors"));
}

// The Hugging Face hub cache: snapshots/<rev>/* are symlinks to ../../blobs/<hash>.
TEST(HfDir, HubCacheLayout) {
  ScratchDir tmp;
  const std::string repo = tmp.file("models--org--tiny");
  const std::string snap = repo + "/snapshots/0123abc";
  std::filesystem::create_directories(repo + "/blobs");
  std::filesystem::create_directories(snap);
  ASSERT_TRUE(write_json_file(repo + "/blobs/c0ffee", kConfig).is_ok());
  ASSERT_TRUE(make_writer().write(repo + "/blobs/beef").is_ok());
  ASSERT_EQ(::symlink("../../blobs/c0ffee", (snap + "/config.json").c_str()), 0);
  ASSERT_EQ(::symlink("../../blobs/beef", (snap + "/model.safetensors").c_str()), 0);
  auto r = open_hf_dir(snap);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->index.size(), 6u);
  EXPECT_EQ(r->index.files[0], snap + "/model.safetensors");
}

TEST(HfDir, MissingShard) {
  ScratchDir tmp;
  make_model(tmp.path(), true);
  ASSERT_EQ(::unlink(tmp.file("model-00004-of-00005.safetensors").c_str()), 0);
  EXPECT_THAT(open_error(tmp.path()),
              AllOf(HasSubstr("model.safetensors.index.json"),
                    HasSubstr("'model-00004-of-00005.safetensors'"), HasSubstr("does not exist")));
  // A dangling symlink is a missing shard too.
  ASSERT_EQ(::symlink("nowhere", tmp.file("model-00004-of-00005.safetensors").c_str()), 0);
  EXPECT_THAT(open_error(tmp.path()), HasSubstr("does not exist"));
}

TEST(HfDir, IndexDisagreesWithShards) {
  ScratchDir tmp;
  make_model(tmp.path(), true);
  auto index = json::parse(test_util::read_bytes(tmp.file("model.safetensors.index.json")));
  json wm = index["weight_map"];

  json extra = wm;
  extra["lm_head.weight"] = "model-00002-of-00005.safetensors";
  set_weight_map(tmp.path(), extra);
  EXPECT_THAT(open_error(tmp.path()),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("'lm_head.weight'"),
                    HasSubstr("model-00002-of-00005.safetensors has no such tensor")));

  json moved = wm;
  moved["model.layers.0.weight"] = "model-00002-of-00005.safetensors";
  set_weight_map(tmp.path(), moved);
  EXPECT_THAT(open_error(tmp.path()), AllOf(HasSubstr("'model.layers.0.weight'"),
                                            HasSubstr("model-00001-of-00005.safetensors")));

  // The same tensor in two shards.
  SafetensorsWriter dup;
  dup.add_tensor_f32("model.layers.0.weight", DType::kF32, {12}, std::vector<float>(12));
  ASSERT_TRUE(dup.write(tmp.file("model-00002-of-00005.safetensors")).is_ok());
  set_weight_map(tmp.path(), wm);
  EXPECT_THAT(open_error(tmp.path()),
              AllOf(HasSubstr("model-00002-of-00005.safetensors"),
                    HasSubstr("'model.layers.0.weight'"), HasSubstr("one shard only")));
}

TEST(HfDir, BadIndexAndShards) {
  ScratchDir tmp;
  make_model(tmp.path(), true);
  const std::string index = tmp.file("model.safetensors.index.json");
  test_util::write_bytes(index, "{\"weight_map\": ");
  EXPECT_THAT(open_error(tmp.path()), AllOf(HasSubstr(index), HasSubstr("invalid JSON")));
  test_util::write_bytes(index, "{\"metadata\": {}}");
  EXPECT_THAT(open_error(tmp.path()), AllOf(HasSubstr(index), HasSubstr("weight_map")));
  set_weight_map(tmp.path(), json::object());
  EXPECT_THAT(open_error(tmp.path()), AllOf(HasSubstr(index), HasSubstr("no tensors")));
  set_weight_map(tmp.path(), {{"a", 3}});
  EXPECT_THAT(open_error(tmp.path()), AllOf(HasSubstr(index), HasSubstr("'a'")));

  // A malformed shard: its own error, naming the shard.
  ScratchDir tmp2;
  make_model(tmp2.path(), true);
  const std::string shard = tmp2.file("model-00003-of-00005.safetensors");
  std::string bytes = test_util::read_bytes(shard);
  test_util::write_bytes(shard, bytes.substr(0, bytes.size() - 1));
  EXPECT_THAT(open_error(tmp2.path()), AllOf(HasSubstr(shard), HasSubstr("truncated")));
}

TEST(HfDir, MissingOrBadConfig) {
  ScratchDir tmp;
  make_model(tmp.path(), false);
  ASSERT_EQ(::unlink(tmp.file("config.json").c_str()), 0);
  EXPECT_THAT(open_error(tmp.path()),
              AllOf(HasSubstr(tmp.file("config.json")), HasSubstr("missing")));
  test_util::write_bytes(tmp.file("config.json"), "{\"hidden_size\": 8,}");
  EXPECT_THAT(open_error(tmp.path()),
              AllOf(HasSubstr(tmp.file("config.json")), HasSubstr("invalid JSON")));
  test_util::write_bytes(tmp.file("config.json"), "[8]");
  EXPECT_THAT(open_error(tmp.path()),
              AllOf(HasSubstr(tmp.file("config.json")), HasSubstr("JSON object")));
}

TEST(HfDir, NoWeightsOrNoDirectory) {
  ScratchDir tmp;
  ASSERT_TRUE(write_json_file(tmp.file("config.json"), kConfig).is_ok());
  EXPECT_THAT(open_error(tmp.path()),
              AllOf(HasSubstr(tmp.path()), HasSubstr("no model.safetensors")));
  test_util::write_bytes(tmp.file("pytorch_model.bin"), "PK");
  EXPECT_THAT(open_error(tmp.path()), HasSubstr("pytorch_model.bin"));
  EXPECT_THAT(open_error(tmp.file("absent")), HasSubstr("absent"));
  EXPECT_THAT(open_error(tmp.file("config.json")), HasSubstr("not a directory"));
}

}  // namespace
}  // namespace strata
