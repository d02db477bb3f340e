// Dev-only: llama.cpp's logits for a token sequence (every position), as float32.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llama.h"
int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: model ids out\n");
    return 2;
  }
  std::vector<llama_token> ids;
  for (char* p = argv[2]; *p;) {
    ids.push_back(strtol(p, &p, 10));
    if (*p == ',') ++p;
  }
  llama_backend_init();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto mp = llama_model_default_params();
  llama_model* m = llama_model_load_from_file(argv[1], mp);
  if (!m) return 1;
  auto cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = 256;
  cp.n_ubatch = 256;
  cp.n_threads = 2;
  cp.n_threads_batch = 2;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(m, cp);
  llama_batch b = llama_batch_init(ids.size(), 0, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    b.token[i] = ids[i];
    b.pos[i] = i;
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = true;
  }
  b.n_tokens = ids.size();
  if (llama_decode(ctx, b) != 0) return 1;
  const int nv = llama_vocab_n_tokens(llama_model_get_vocab(m));
  FILE* f = fopen(argv[3], "wb");
  for (size_t i = 0; i < ids.size(); ++i) fwrite(llama_get_logits_ith(ctx, i), 4, nv, f);
  fclose(f);
  return 0;
}
