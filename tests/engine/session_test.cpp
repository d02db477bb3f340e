// Sessions: a conversation continues from its KV cache, sessions batched in one
// forward pass get exactly what each gets alone, and a generation can be
// stopped (stop strings, callback). Bit-identity is checked on a quantized
// model: quantized kernels give a token the same bits in any batch; float
// weights' one-token kernel sums in four chains (for decode speed), so there a
// batch agrees with a lone token to rounding (checked on stories260K, F32).
#include <gtest/gtest.h>

#include <cstring>

#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/quantize.h"
#include "model/shapes.h"
#include "strata/engine.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

// tiny-256 (8 layers) quantized to Q8_0, with stories260K's tokenizer; made
// once.
const std::string& quantized_model() {
  static const std::string path =
      test::make_quantized_tiny(test::make_temp_dir("session-q8"), "Q8_0", 7);
  return path;
}

std::shared_ptr<Model> open_model(int n_seq, int64_t gpu_layers = -1, bool quantized = false) {
  ModelOptions mo;
  mo.model_path = quantized ? quantized_model() : test::kStoriesGguf;
  if (quantized) mo.tokenizer_path = test::kStoriesGguf;
  mo.n_threads = 2;
  mo.n_ctx = 256;
  mo.n_seq = n_seq;
  mo.placement.auto_pack = false;
  if (gpu_layers >= 0) {
    mo.placement.gpu_layers = gpu_layers;
    mo.placement.offload_to = "disk";
  }
  auto m = Model::open(mo);
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  return m.is_ok() ? *m : nullptr;
}

GenerateOptions greedy(const std::string& prompt, int64_t n) {
  GenerateOptions g;
  g.prompt = prompt;
  g.n_predict = n;
  g.sampling.temperature = 0;
  g.ignore_eos = true;
  return g;
}

struct Outcome {
  std::string text;
  std::vector<float> last_logits;  // the logits rows of the generated tokens, concatenated
  GenerateStats stats;
};

Outcome generate(Session& s, GenerateOptions g) {
  Outcome r;
  g.on_logits = [&](const float* l, int64_t v) { r.last_logits.assign(l, l + v); };
  Status st = s.generate(
      g,
      [&](std::string_view t) {
        r.text.append(t);
        return true;
      },
      &r.stats);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return r;
}

void expect_same_logits(const std::vector<float>& a, const std::vector<float>& b, bool bits) {
  ASSERT_EQ(a.size(), b.size());
  if (bits) {
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  } else {
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4f) << i;
  }
}

void expect_second_turn_reuses_cache(bool quantized) {
  auto m = open_model(2, -1, quantized);
  ASSERT_TRUE(m);
  auto chat = m->new_session();
  ASSERT_TRUE(chat.is_ok());
  const std::string turn1 = "Once upon a time, there was a little girl";
  Outcome a = generate(**chat, greedy(turn1, 12));
  EXPECT_EQ(a.stats.n_cached_tokens, 0);
  // Turn 2: the whole conversation so far plus new text, as a chat frontend
  // sends it (as tokens: a random model's text need not tokenize back to the
  // ids it was sampled as).
  GenerateOptions g2 = greedy("", 16);
  g2.prompt_tokens = a.stats.tokens;
  for (int32_t t : m->tokenizer().encode(". One day she went to the park", false, false)) {
    g2.prompt_tokens.push_back(t);
  }
  Outcome b = generate(**chat, g2);
  EXPECT_GT(b.stats.n_cached_tokens,
            a.stats.n_prompt_tokens);  // prompt and reply reused
  // Only the new tokens were fed in prefill passes.
  int64_t fed = 0;
  for (const TokenTrace& t : b.stats.traces) fed += t.prefill ? t.n_tokens : 0;
  EXPECT_EQ(fed, b.stats.n_prompt_tokens - b.stats.n_cached_tokens);

  auto fresh = m->new_session();
  ASSERT_TRUE(fresh.is_ok());
  Outcome c = generate(**fresh, g2);
  EXPECT_EQ(c.stats.n_cached_tokens, 0);
  EXPECT_EQ(b.text, c.text);
  expect_same_logits(b.last_logits, c.last_logits, quantized);
  EXPECT_EQ(b.stats.tokens, c.stats.tokens);

  // A prompt that diverges early reuses only the shared prefix; reuse_cache =
  // false none.
  Outcome d = generate(**chat, greedy("Once upon a time, a dog", 4));
  EXPECT_GT(d.stats.n_cached_tokens, 0);
  EXPECT_LT(d.stats.n_cached_tokens, d.stats.n_prompt_tokens);
  GenerateOptions no_reuse = g2;
  no_reuse.n_predict = 4;
  no_reuse.reuse_cache = false;
  Outcome e = generate(**chat, no_reuse);
  EXPECT_EQ(e.stats.n_cached_tokens, 0);
  EXPECT_EQ(e.text, c.text.substr(0, e.text.size()));
}

TEST(Session, SecondTurnPrefillsOnlyNewTokensAndMatchesAFreshSession) {
  expect_second_turn_reuses_cache(true);
}
TEST(Session, SecondTurnOnFloatWeightsMatchesToRounding) { expect_second_turn_reuses_cache(false); }

// Sessions stepped together: one forward pass per step for all of them, and
// each gets the same tokens and logits, bit for bit, as when it runs alone.
// With streamed layers, a batched step streams each layer once.
void expect_batched_equals_alone(int64_t gpu_layers, bool quantized) {
  const std::vector<std::string> prompts = {"Once upon a time", "The cat sat on the",
                                            "Lily and Tom were friends. They liked to play"};
  auto m = open_model(3, gpu_layers, quantized);
  ASSERT_TRUE(m);
  std::vector<Outcome> alone;
  {
    auto s = m->new_session();
    ASSERT_TRUE(s.is_ok());
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerateOptions g = greedy(prompts[i], 10 + 3 * static_cast<int64_t>(i));
      g.reuse_cache = false;
      alone.push_back(generate(**s, g));
    }
  }
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<Outcome> batched(prompts.size());
  std::vector<std::vector<float>> all_logits(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto s = m->new_session();
    ASSERT_TRUE(s.is_ok());
    sessions.push_back(std::move(*s));
    GenerateOptions g = greedy(prompts[i], 10 + 3 * static_cast<int64_t>(i));
    g.on_logits = [&batched, i](const float* l, int64_t v) {
      batched[i].last_logits.assign(l, l + v);
    };
    ASSERT_TRUE(sessions[i]
                    ->begin(g,
                            [&batched, i](std::string_view t) {
                              batched[i].text.append(t);
                              return true;
                            })
                    .is_ok());
  }
  std::vector<Session*> ptrs;
  for (auto& s : sessions) ptrs.push_back(s.get());
  int steps = 0;
  uint64_t max_step_bytes = 0;
  for (bool any = true; any; ++steps) {
    ASSERT_TRUE(m->step(ptrs).is_ok());
    any = false;
    for (Session* s : ptrs) any |= s->active();
    ASSERT_LT(steps, 100);
  }
  // Prompts fit one batch: one prefill pass, then one pass per decoded token of
  // the longest.
  EXPECT_EQ(steps, 1 + 16 - 1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(batched[i].text, alone[i].text) << i;
    EXPECT_EQ(sessions[i]->stats().tokens, alone[i].stats.tokens) << i;
    expect_same_logits(batched[i].last_logits, alone[i].last_logits, quantized);
    for (const TokenTrace& t : sessions[i]->stats().traces) {
      max_step_bytes = std::max(max_step_bytes, t.bytes_streamed);
    }
  }
  if (gpu_layers >= 0) {
    // Every streamed layer once per pass, whatever the number of sessions in
    // it.
    const uint64_t per_token = alone[0].stats.traces.back().bytes_streamed;
    EXPECT_GT(per_token, 0u);
    EXPECT_EQ(max_step_bytes, per_token);
  }
}

TEST(Session, BatchedSessionsGetExactlyWhatEachGetsAlone) { expect_batched_equals_alone(-1, true); }
TEST(Session, BatchedSessionsStreamEachLayerOncePerStep) { expect_batched_equals_alone(3, true); }
TEST(Session, BatchedFloatSessionsMatchToRounding) { expect_batched_equals_alone(-1, false); }

TEST(Session, StopStringEndsTheTextBeforeIt) {
  auto m = open_model(1);
  ASSERT_TRUE(m);
  auto s = m->new_session();
  ASSERT_TRUE(s.is_ok());
  Outcome full = generate(**s, greedy("Once upon a time", 40));
  // Pick a stop string from the middle of the greedy text, spanning a token
  // boundary.
  ASSERT_GT(full.text.size(), 30u);
  const std::string stop = full.text.substr(20, 5);
  const size_t at = full.text.find(stop);
  GenerateOptions g = greedy("Once upon a time", 40);
  g.stop = {"never appears \xe2\x9c\x93", stop};
  std::vector<std::string> pieces;
  Status st = (*s)->generate(g, [&](std::string_view t) {
    pieces.emplace_back(t);
    return true;
  });
  ASSERT_TRUE(st.is_ok()) << st.message();
  std::string text;
  for (const auto& p : pieces) text += p;
  EXPECT_EQ(text, full.text.substr(0, at));
  EXPECT_EQ((*s)->stats().finish, FinishReason::kStop);
  EXPECT_LT((*s)->stats().n_generated, 40);

  g.stop = {""};
  EXPECT_FALSE((*s)->generate(g, [](std::string_view) { return true; }).is_ok());
}

TEST(Session, CallbackCanCancelAndTracesAreBounded) {
  auto m = open_model(1);
  ASSERT_TRUE(m);
  auto s = m->new_session();
  ASSERT_TRUE(s.is_ok());
  GenerateOptions g = greedy("Once upon a time", 50);
  g.max_traces = 3;
  int calls = 0;
  GenerateStats st;
  ASSERT_TRUE((*s)->generate(
                      g, [&](std::string_view) { return ++calls < 5; }, &st)
                  .is_ok());
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(st.finish, FinishReason::kCancelled);
  EXPECT_FALSE((*s)->active());
  EXPECT_EQ(st.traces.size(), 3u);
  EXPECT_EQ(st.traces.size() + st.n_traces_dropped, 1 + static_cast<size_t>(st.n_generated) - 1);

  g.max_traces = 4096;
  g.n_predict = 10;
  ASSERT_TRUE((*s)->generate(
                      g, [](std::string_view) { return true; }, &st)
                  .is_ok());
  EXPECT_EQ(st.finish, FinishReason::kLength);
  EXPECT_EQ(st.n_generated, 10);
}

TEST(Session, AtMostNSeqSessions) {
  auto m = open_model(1);
  ASSERT_TRUE(m);
  auto a = m->new_session();
  ASSERT_TRUE(a.is_ok());
  auto b = m->new_session();
  ASSERT_FALSE(b.is_ok());
  EXPECT_NE(b.status().message().find("sessions"), std::string::npos);
  a->reset();
  (*a).reset();  // the unique_ptr: the session ends
  EXPECT_TRUE(m->new_session().is_ok());
}

// The tokenizer builds while the weights load (or before them, under a RAM budget): its
// errors still fail Model::open, naming what is wrong, either way.
TEST(ModelOpen, TokenizerErrorsFailTheOpenWithOrWithoutABudget) {
  const std::string dir = test::make_temp_dir("bad_tokenizer");
  const std::string garbage = dir + "/tokenizer.json";
  test::write_file(garbage, "{ not json");
  const std::string big = test::kData + "/tokenizers/llama3/tokenizer.json.zst";
  for (uint64_t budget : {uint64_t{0}, uint64_t{1} << 30}) {
    ModelOptions mo;
    mo.model_path = test::kStoriesGguf;
    mo.n_threads = 2;
    mo.placement.ram_budget_bytes = budget;
    mo.tokenizer_path = garbage;
    auto m = Model::open(mo);
    ASSERT_FALSE(m.is_ok()) << "budget " << budget;
    EXPECT_NE(m.status().message().find(garbage), std::string::npos) << m.status().message();
    mo.tokenizer_path = big;  // 128,256 tokens for a model of 512
    m = Model::open(mo);
    ASSERT_FALSE(m.is_ok()) << "budget " << budget;
    EXPECT_NE(m.status().message().find("tokenizer has 128256 tokens but the model's vocabulary "
                                        "is 512"),
              std::string::npos)
        << m.status().message();
  }
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {
// The public headers stand alone: nothing under include/strata/ includes from
// src/.
TEST(PublicApi, IncludesNothingFromSrc) {
  for (const char* h : {"engine.h", "options.h", "status.h"}) {
    const std::string text =
        test::read_file(std::string(STRATA_SOURCE_DIR) + "/include/strata/" + h);
    ASSERT_FALSE(text.empty()) << h;
    size_t at = 0;
    while ((at = text.find("#include \"", at)) != std::string::npos) {
      at += 10;
      EXPECT_EQ(text.compare(at, 7, "strata/"), 0) << h << ": " << text.substr(at, 40);
    }
  }
}
}  // namespace
}  // namespace strata
