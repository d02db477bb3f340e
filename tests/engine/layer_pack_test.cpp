// Layer packs: a converted pack holds every tensor's bytes unchanged, aligned, with region
// checksums that match; a damaged or mismatched pack is an error naming the manifest and what
// is wrong, never a crash. The CLI's `strata convert` writes one for the bundled model.
#include "store/layer_pack.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "backend/device.h"
#include "core/file.h"
#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/tensor_spec.h"
#include "store/streaming_store.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

ModelConfig tiny(Arch arch, const char* name, int64_t n_layer = 2) {
  ModelConfig c;
  c.arch = arch;
  c.arch_name = name;
  c.n_layer = n_layer;
  c.n_embd = 64;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 16;
  c.n_ff = 96;
  c.n_vocab = 128;
  c.n_ctx_train = 256;
  c.rope_style = arch == Arch::kLlama ? RopeStyle::kInterleaved : RopeStyle::kNeox;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3;
  return c;
}

std::vector<char> read_bytes(const std::string& path, uint64_t offset, uint64_t n) {
  std::vector<char> v(n);
  auto f = File::open(path);
  EXPECT_TRUE(f.is_ok()) << f.status().message();
  if (f.is_ok()) {
    EXPECT_TRUE(f->read_at(offset, v.data(), n).is_ok());
  }
  return v;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

class LayerPackTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir("layer_pack"); }
  void TearDown() override { fs::remove_all(dir_); }

  // A random GGUF model in dir_/<name>.gguf, opened.
  ModelSource make_model(const ModelConfig& c, DType dtype, const std::string& name,
                         uint64_t seed = 5) {
    RandomModelOptions o;
    o.dtype = dtype;
    o.seed = seed;
    o.name = name;
    const std::string path = dir_ + "/" + name + ".gguf";
    Status s = write_random_gguf(c, o, path);
    EXPECT_TRUE(s.is_ok()) << s.message();
    auto m = open_model(path);
    EXPECT_TRUE(m.is_ok()) << m.status().message();
    return std::move(m).value();
  }

  std::string convert(const ModelSource& m, const std::string& name) {
    const std::string pack_dir = dir_ + "/" + name;
    Status s = write_layer_pack(m, pack_dir, nullptr);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return pack_dir;
  }

  std::string dir_;
};

// Everything a correct pack promises, checked from the bytes on disk.
void check_pack(const ModelSource& m, const std::string& pack_dir) {
  auto pack = open_layer_pack(pack_dir, m);
  ASSERT_TRUE(pack.is_ok()) << pack.status().message();
  EXPECT_EQ(pack->dir, pack_dir);
  EXPECT_EQ(pack->data_path, pack_dir + "/pack.bin");
  ASSERT_EQ(pack->index.files, std::vector<std::string>{pack->data_path});
  ASSERT_EQ(pack->layers.size(), static_cast<size_t>(m.config.n_layer));
  const uint64_t pack_bytes = fs::file_size(pack->data_path);
  EXPECT_EQ(pack_bytes % 4096, 0u);

  // Regions: globals first at 0, then the layers in order, 4 KiB-aligned, checksums right.
  EXPECT_EQ(pack->globals.offset, 0u);
  uint64_t prev_end = pack->globals.offset + pack->globals.nbytes;
  std::vector<PackRegion> regions = {pack->globals};
  for (const PackRegion& r : pack->layers) {
    EXPECT_EQ(r.offset % 4096, 0u);
    EXPECT_GE(r.offset, prev_end);
    EXPECT_LT(r.offset - prev_end, 4096u) << "regions are packed";
    prev_end = r.offset + r.nbytes;
    regions.push_back(r);
  }
  EXPECT_LE(prev_end, pack_bytes);
  for (const PackRegion& r : regions) {
    std::vector<char> bytes = read_bytes(pack->data_path, r.offset, r.nbytes);
    EXPECT_EQ(xxh64_of(bytes.data(), bytes.size()), r.xxh64) << "region at " << r.offset;
  }

  // Every tensor the model needs, byte for byte, 64-byte aligned inside its own region.
  auto check_tensor = [&](const TensorSpec& spec, const PackRegion& region) {
    if (spec.name.empty()) return;
    const TensorInfo* src = m.index.find(spec.name);
    if (!src) return;
    const TensorInfo* t = pack->index.find(spec.name);
    ASSERT_NE(t, nullptr) << spec.name;
    EXPECT_EQ(t->file_index, 0u);
    EXPECT_EQ(t->dtype, src->dtype) << spec.name;
    EXPECT_EQ(t->dtype_name, src->dtype_name);
    EXPECT_EQ(t->shape, src->shape);
    EXPECT_EQ(t->nbytes, src->nbytes);
    EXPECT_EQ(t->offset % 64, 0u) << spec.name;
    EXPECT_GE(t->offset, region.offset) << spec.name;
    EXPECT_LE(t->offset + t->nbytes, region.offset + region.nbytes) << spec.name;
    EXPECT_EQ(read_bytes(pack->data_path, t->offset, t->nbytes),
              read_bytes(m.index.files[src->file_index], src->offset, src->nbytes))
        << spec.name;
  };
  size_t n_tensors = 0;
  for (const TensorSpec& s : global_tensor_specs(m.config)) {
    check_tensor(s, pack->globals);
    n_tensors += !s.name.empty() && m.index.find(s.name);
  }
  for (int64_t l = 0; l < m.config.n_layer; ++l) {
    for (const TensorSpec& s : layer_tensor_specs(m.config, l)) {
      check_tensor(s, pack->layers[l]);
      n_tensors += !s.name.empty() && m.index.find(s.name);
    }
  }
  EXPECT_EQ(pack->index.size(), n_tensors);

  const nlohmann::json j = read_json(pack_dir + "/manifest.json");
  EXPECT_EQ(j["format"], "strata-layer-pack");
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["source"]["fingerprint"].get<std::string>().size(), 16u);
  EXPECT_EQ(j["source"]["path"], m.path);
  EXPECT_EQ(j["source"]["format"], model_format_name(m.format));
  EXPECT_EQ(j["source"]["size_bytes"].get<uint64_t>(), fs::file_size(m.path));
  EXPECT_EQ(j["n_layer"], m.config.n_layer);
  EXPECT_EQ(j["tensors"][0]["region"], "globals");
  EXPECT_EQ(j["globals"]["xxh64"].get<std::string>().size(), 16u);
}

TEST_F(LayerPackTest, ConvertKeepsEveryTensorsBytes) {
  ModelSource m = make_model(tiny(Arch::kLlama, "llama"), DType::kF16, "llama_f16");
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  Status s = write_layer_pack(
      m, dir_ + "/pack", [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(s.is_ok()) << s.message();
  ASSERT_GE(calls.size(), 2u);
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_GE(calls[i].first, calls[i - 1].first);
    EXPECT_EQ(calls[i].second, calls[0].second);
  }
  EXPECT_EQ(calls.back().first, calls.back().second);
  EXPECT_EQ(calls.back().second, m.index.total_bytes());
  check_pack(m, dir_ + "/pack");
  // Only the two files: the temp files were renamed.
  size_t n_files = 0;
  for (const auto& e : fs::directory_iterator(dir_ + "/pack")) n_files += e.is_regular_file();
  EXPECT_EQ(n_files, 2u);
}

TEST_F(LayerPackTest, OptionalTensorsAndOtherDtypes) {
  ModelConfig q3 = tiny(Arch::kQwen3, "qwen3", 3);
  q3.head_dim = 32;
  q3.tied_embeddings = true;  // no output.weight
  ModelSource a = make_model(q3, DType::kBF16, "qwen3_bf16");
  check_pack(a, convert(a, "qwen3"));
  ModelSource b = make_model(tiny(Arch::kQwen2, "qwen2"), DType::kF32, "qwen2_f32");
  check_pack(b, convert(b, "qwen2"));
}

TEST_F(LayerPackTest, ConvertingAgainReplacesThePack) {
  ModelSource a = make_model(tiny(Arch::kLlama, "llama"), DType::kF16, "a", 1);
  ModelSource b = make_model(tiny(Arch::kLlama, "llama", 3), DType::kF32, "b", 2);
  const std::string pack_dir = convert(a, "pack");
  ASSERT_TRUE(write_layer_pack(b, pack_dir, nullptr).is_ok());
  check_pack(b, pack_dir);
  auto wrong = open_layer_pack(pack_dir, a);
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_NE(wrong.status().message().find(pack_dir + "/manifest.json: "), std::string::npos);
}

TEST_F(LayerPackTest, FlippedByteIsCaughtByTheRegionChecksum) {
  ModelSource m = make_model(tiny(Arch::kLlama, "llama"), DType::kF16, "m");
  const std::string pack_dir = convert(m, "pack");
  auto before = open_layer_pack(pack_dir, m);
  ASSERT_TRUE(before.is_ok());
  const PackRegion r = before->layers[1];
  {
    std::fstream f(before->data_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(r.offset + r.nbytes / 2));
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(r.offset + r.nbytes / 2));
    f.write(&c, 1);
  }
  // Opening does not read the weights: checksums are verified when a layer is streamed.
  auto after = open_layer_pack(pack_dir, m);
  ASSERT_TRUE(after.is_ok()) << after.status().message();
  std::vector<char> bytes = read_bytes(after->data_path, r.offset, r.nbytes);
  EXPECT_NE(xxh64_of(bytes.data(), bytes.size()), after->layers[1].xxh64);
  EXPECT_EQ(after->layers[1].xxh64, r.xxh64);
}

TEST_F(LayerPackTest, DamagedOrMismatchedPacksAreClearErrors) {
  ModelSource m = make_model(tiny(Arch::kLlama, "llama"), DType::kF16, "m");
  const std::string good = convert(m, "good");
  const nlohmann::json manifest = read_json(good + "/manifest.json");
  auto find_tensor = [&](const nlohmann::json& j, const std::string& name) -> size_t {
    for (size_t i = 0; i < j["tensors"].size(); ++i) {
      if (j["tensors"][i]["name"] == name) return i;
    }
    ADD_FAILURE() << name;
    return 0;
  };

  struct Case {
    std::string name;
    std::function<void(const std::string& pack_dir)> damage;
    std::string want;  // in the error message
  };
  auto edit = [&](std::function<void(nlohmann::json&)> f) {
    return [&manifest, f](const std::string& pack_dir) {
      nlohmann::json j = manifest;
      f(j);
      write_text(pack_dir + "/manifest.json", j.dump(1));
    };
  };
  const size_t q0 = find_tensor(manifest, "blk.0.attn_q.weight");
  const size_t up0 = find_tensor(manifest, "blk.0.ffn_up.weight");
  std::vector<Case> cases = {
      {"missing manifest (interrupted convert)",
       [](const std::string& d) { fs::remove(d + "/manifest.json"); },
       "manifest.json: cannot open: No such file or directory (not a layer pack, or its convert "
       "was interrupted"},
      {"missing pack.bin", [](const std::string& d) { fs::remove(d + "/pack.bin"); },
       "its data file"},
      {"truncated pack.bin",
       [&](const std::string& d) {
         fs::resize_file(d + "/pack.bin", manifest["layers"][1]["offset"].get<uint64_t>() + 100);
       },
       "layer 1 ["},
      {"not JSON", [](const std::string& d) { write_text(d + "/manifest.json", "{\"format\": "); },
       "not valid JSON"},
      {"not an object", [](const std::string& d) { write_text(d + "/manifest.json", "[1, 2]"); },
       "must hold a JSON object"},
      {"wrong format", edit([](auto& j) { j["format"] = "gguf"; }), "format is \"gguf\""},
      {"newer version", edit([](auto& j) { j["version"] = 3; }), "version 3 is not supported"},
      {"older version", edit([](auto& j) { j["version"] = 1; }), "version 1 is not supported"},
      {"n_layer a string", edit([](auto& j) { j["n_layer"] = "2"; }),
       "manifest.n_layer must be a non-negative integer, got \"2\""},
      {"negative offset", edit([](auto& j) { j["layers"][0]["offset"] = -4096; }),
       "layers[0].offset must be a non-negative integer"},
      {"fractional nbytes", edit([](auto& j) { j["globals"]["nbytes"] = 1.5; }),
       "globals.nbytes must be a non-negative integer"},
      {"missing field", edit([](auto& j) { j["source"].erase("size_bytes"); }),
       "source.size_bytes is missing"},
      {"bad checksum text", edit([](auto& j) { j["layers"][1]["xxh64"] = "xyz"; }),
       "layers[1].xxh64 must be 1 to 16 hex digits"},
      {"misaligned region", edit([](auto& j) { j["layers"][1]["offset"] = 4096 * 3 + 64; }),
       "layer 1 offset 12352 is not 4096-byte aligned"},
      {"huge region", edit([](auto& j) { j["layers"][1]["nbytes"] = UINT64_MAX; }),
       "runs past the end of pack.bin"},
      {"overlapping regions",
       edit([](auto& j) { j["layers"][1]["offset"] = j["layers"][0]["offset"]; }), "overlaps"},
      {"too few layers", edit([](auto& j) { j["layers"].erase(1); }),
       "layers must be an array of 2 regions"},
      {"tensor outside its region",
       edit([&](auto& j) { j["tensors"][q0]["offset"] = j["layers"][1]["offset"]; }),
       "tensor 'blk.0.attn_q.weight' ["},
      {"tensor in the wrong region", edit([&](auto& j) { j["tensors"][q0]["region"] = 1; }),
       "lies outside its region, layer 1"},
      {"region out of range", edit([&](auto& j) { j["tensors"][q0]["region"] = 7; }),
       "region must be \"globals\" or a layer number below 2, got 7"},
      {"misaligned tensor", edit([&](auto& j) {
         j["tensors"][q0]["offset"] = j["tensors"][q0]["offset"].template get<uint64_t>() + 8;
       }),
       "offset"},
      {"duplicate name", edit([&](auto& j) { j["tensors"][up0]["name"] = "blk.0.attn_q.weight"; }),
       "tensor 'blk.0.attn_q.weight' is listed twice"},
      {"overlapping tensors",
       edit([&](auto& j) { j["tensors"][q0 + 1]["offset"] = j["tensors"][q0]["offset"]; }),
       "overlaps tensor"},
      {"wrong shape vs model", edit([&](auto& j) {
         j["tensors"][up0]["shape"] = {64, 96};
       }),
       "tensor 'blk.0.ffn_up.weight' has shape [64, 96] in the pack but [96, 64] in"},
      {"negative dimension", edit([&](auto& j) {
         j["tensors"][up0]["shape"] = {-96, 64};
       }),
       "shape [-96,64] must hold non-negative integers"},
      {"wrong dtype vs model", edit([&](auto& j) { j["tensors"][up0]["dtype"] = "F32"; }),
       "has type F32 in the pack but F16"},
      {"missing tensor", edit([&](auto& j) { j["tensors"].erase(up0); }),
       "tensor 'blk.0.ffn_up.weight' of"},
      {"extra tensor", edit([&](auto& j) {
         nlohmann::json t = j["tensors"][up0];
         t["name"] = "blk.0.extra.weight";
         t["offset"] = j["layers"][0]["offset"].template get<uint64_t>() +
                       j["layers"][0]["nbytes"].template get<uint64_t>();
         t["nbytes"] = 0;
         j["tensors"].push_back(t);
       }),
       "tensor 'blk.0.extra.weight' is not one"},
      {"other source size", edit([](auto& j) { j["source"]["size_bytes"] = 12345; }),
       "converted from a source of 12345 bytes"},
      {"other source format", edit([](auto& j) { j["source"]["format"] = "safetensors"; }),
       "converted from a safetensors model"},
      {"other source content", edit([](auto& j) { j["source"]["fingerprint"] = "0123abcd"; }),
       "converted from other bytes than"},
      {"no fingerprint", edit([](auto& j) { j["source"].erase("fingerprint"); }),
       "source.fingerprint is missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string pack_dir = dir_ + "/bad";
    fs::remove_all(pack_dir);
    fs::copy(good, pack_dir);
    c.damage(pack_dir);
    auto pack = open_layer_pack(pack_dir, m);
    ASSERT_FALSE(pack.is_ok());
    const std::string msg = pack.status().message();
    EXPECT_EQ(msg.rfind(pack_dir + "/manifest.json", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
  }

  // A model with other hyper-parameters.
  ModelSource three = make_model(tiny(Arch::kLlama, "llama", 3), DType::kF16, "three");
  auto other = open_layer_pack(good, three);
  ASSERT_FALSE(other.is_ok());
  EXPECT_NE(other.status().message().find("converted from a source of"), std::string::npos)
      << other.status().message();
}

// A pack belongs to the bytes it was converted from: another model of the same architecture
// and size (another seed) is refused, with and without --verify, never used silently.
TEST_F(LayerPackTest, APackOfAnotherModelOfTheSameSizeIsRefused) {
  ModelSource a = make_model(tiny(Arch::kLlama, "llama"), DType::kF16, "seed_a", 1);
  const std::string pack_dir = convert(a, "pack_a");
  ASSERT_TRUE(open_layer_pack(pack_dir, a).is_ok());
  ModelSource b = make_model(tiny(Arch::kLlama, "llama"), DType::kF16, "seed_b", 2);
  ASSERT_EQ(fs::file_size(a.path), fs::file_size(b.path));
  auto other = open_layer_pack(pack_dir, b);
  ASSERT_FALSE(other.is_ok());
  EXPECT_NE(other.status().message().find("converted from other bytes than " + b.path),
            std::string::npos)
      << other.status().message();
  auto device = make_cpu_device();
  for (bool verify : {false, true}) {
    PlacementOptions po;
    po.gpu_layers = 1;
    po.offload_to = "disk";
    po.pack_dir = pack_dir;
    po.verify = verify;
    auto store = StreamingStore::create(b, po, *device, 0);
    ASSERT_FALSE(store.is_ok()) << "verify " << verify;
    EXPECT_NE(store.status().message().find("converted from other bytes"), std::string::npos)
        << store.status().message();
  }
}

TEST_F(LayerPackTest, CliConvertsTheBundledModel) {
  const std::string model = std::string(STRATA_SOURCE_DIR) + "/data/models/stories260K.gguf";
  const std::string pack_dir = dir_ + "/stories";
  int code = -1;
  std::string out = test::run_command(
      std::string(STRATA_BINARY) + " convert " + model + " --pack " + pack_dir + " 2>&1", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("wrote layer pack " + pack_dir), std::string::npos) << out;
  EXPECT_NE(out.find("100.0%"), std::string::npos) << out;  // the final progress line
  EXPECT_EQ(out.find('\r'), std::string::npos) << "stderr is not a terminal: no \\r redraws";

  const nlohmann::json j = read_json(pack_dir + "/manifest.json");
  EXPECT_EQ(j["format"], "strata-layer-pack");
  EXPECT_EQ(j["n_layer"], 5);
  EXPECT_EQ(j["layers"].size(), 5u);
  EXPECT_EQ(j["source"]["size_bytes"].get<uint64_t>(), fs::file_size(model));
  auto m = open_model(model);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  check_pack(*m, pack_dir);

  out = test::run_command(
      std::string(STRATA_BINARY) + " convert " + dir_ + "/nope.gguf --pack " + pack_dir + "2 2>&1",
      &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("strata: error: " + dir_ + "/nope.gguf"), std::string::npos) << out;
}

}  // namespace
}  // namespace strata
