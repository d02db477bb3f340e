// The streaming store on a real GPU (a -DSTRATA_CUDA=ON build on a machine with one): layers
// streamed from disk (direct I/O -> pinned staging -> cudaMemcpyAsync -> device slot) and
// from pinned RAM arrive in GPU memory byte for byte as an all-resident CPU store holds them,
// for prefetch 0, 1 and 2, over several passes through the ring. Device memory is read back
// with copy_to_host: the forward pass runs on the CPU, so this checks the pipeline, not compute.
#ifdef STRATA_CUDA
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/device.h"
#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "store/streaming_store.h"

namespace strata {
namespace {

ModelConfig small_llama() {
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.arch_name = "llama";
  c.n_layer = 6;
  c.n_embd = 256;
  c.n_head = 8;
  c.n_head_kv = 4;
  c.head_dim = 32;
  c.n_ff = 688;
  c.n_vocab = 1000;
  c.n_ctx_train = 256;
  c.rope_style = RopeStyle::kInterleaved;
  return c;
}

uint64_t view_bytes(const WeightView& w) { return w.empty() ? 0 : w.rows * w.cols * dtype_size(w.dtype); }

TEST(CudaStore, StreamedLayersArriveIntactInGpuMemory) {
  auto gpu = make_cuda_device({});
  if (!gpu.is_ok()) GTEST_SKIP() << "no usable GPU: " << gpu.status().message();
  const std::string dir = test::make_temp_dir("cuda-store");
  const ModelConfig c = small_llama();
  RandomModelOptions ro;
  ro.dtype = DType::kF16;
  ro.seed = 7;
  ASSERT_TRUE(write_random_gguf(c, ro, dir + "/m.gguf").is_ok());
  auto model = open_model(dir + "/m.gguf");
  ASSERT_TRUE(model.is_ok()) << model.status().message();

  auto cpu = make_cpu_device();
  PlacementOptions all;
  all.gpu_layers = c.n_layer;
  auto ref = StreamingStore::create(*model, all, *cpu, 0);
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();

  for (const char* tier : {"disk", "ram"}) {
    for (int prefetch : {0, 1, 2}) {
      SCOPED_TRACE(std::string(tier) + ", prefetch " + std::to_string(prefetch));
      PlacementOptions o;
      o.gpu_layers = 2;
      o.offload_to = tier;
      o.prefetch = prefetch;
      auto store = StreamingStore::create(*model, o, **gpu, 0);
      ASSERT_TRUE(store.is_ok()) << store.status().message();
      EXPECT_EQ((*store)->plan().n_streamed(), c.n_layer - 2);
      for (int pass = 0; pass < 3; ++pass) {
        for (int64_t l = 0; l < c.n_layer; ++l) {
          auto got = (*store)->acquire(l);
          ASSERT_TRUE(got.is_ok()) << got.status().message();
          auto want = (*ref)->acquire(l);
          ASSERT_TRUE(want.is_ok());
          for (int t = 0; t < kLayerTensorCount; ++t) {
            const WeightView& g = (*got)->t[t];
            const WeightView& w = (*want)->t[t];
            ASSERT_EQ(view_bytes(g), view_bytes(w)) << "layer " << l << " tensor " << t;
            if (w.empty()) continue;
            std::vector<char> back(view_bytes(g));
            ASSERT_TRUE((*gpu)->copy_to_host(back.data(), g.data, back.size()).is_ok());
            ASSERT_EQ(std::memcmp(back.data(), w.data, back.size()), 0)
                << "layer " << l << " tensor " << t << " pass " << pass;
          }
          (*ref)->release(l);
          (*store)->release(l);
        }
      }
      const std::vector<LayerLoad> loads = (*store)->take_loads();
      EXPECT_EQ(loads.size(), 3u * (c.n_layer - 2));
    }
  }
  DeviceStats s = (*gpu)->stats();
  EXPECT_GT(s.bytes_copied, 0u);
  EXPECT_GT(s.peak_bytes, 0u);
}

}  // namespace
}  // namespace strata
#endif  // STRATA_CUDA
