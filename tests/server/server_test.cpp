// strata serve, in process on a free port, probed over HTTP with cpp-httplib's
// client: completions equal the engine's greedy text, SSE framing, OpenAI error
// objects, a client that goes away cancels its generation, and concurrent
// clients with bad requests mixed in.
#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "engine/test_util.h"
#include "model/model_source.h"
#include "model/model_writer.h"
#include "model/quantize.h"
#include "model/shapes.h"
#include "server/model_template.h"
#include "strata/engine.h"

namespace strata {
namespace {

using json = nlohmann::json;

// tiny-256 (8 layers) in Q8_0 with stories260K's tokenizer: quantized kernels
// give a token the same bits in any batch, so concurrent requests must get
// exactly their solo text.
const std::string& quantized_model() {
  static const std::string path =
      test::make_quantized_tiny(test::make_temp_dir("server-q8"), "Q8_0", 11);
  return path;
}

class Serve {
 public:
  explicit Serve(const std::string& model_path, int n_parallel = 4, const std::string& tok = "") {
    ModelOptions mo;
    mo.model_path = model_path;
    mo.tokenizer_path = tok;
    mo.n_threads = 2;
    mo.n_ctx = 512;
    mo.n_seq = n_parallel + 1;  // one more for the tests' own solo runs
    auto m = Model::open(mo);
    EXPECT_TRUE(m.is_ok()) << m.status().message();
    model_ = *m;
    auto t = model_chat_template(model_->source(), model_->tokenizer());
    EXPECT_TRUE(t.is_ok()) << t.status().message();
    ServerOptions so;
    so.port = 0;
    so.n_parallel = n_parallel;
    so.max_body_bytes = 64 << 10;
    so.model_id = "test-model";
    so.render = make_chat_renderer(*t);
    auto s = Server::create(model_, so);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    server_ = std::move(*s);
    EXPECT_TRUE(server_->bind().is_ok());
    thread_ = std::thread([this] { (void)server_->listen(); });
  }
  ~Serve() {
    server_->stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    return c;
  }
  Model& model() { return *model_; }

 private:
  std::shared_ptr<Model> model_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

std::string solo_greedy(Model& m, const GenerateOptions& base) {
  auto s = m.new_session();
  EXPECT_TRUE(s.is_ok());
  std::string text;
  GenerateOptions g = base;
  g.sampling.temperature = 0;
  EXPECT_TRUE((*s)->generate(g,
                             [&](std::string_view t) {
                               text.append(t);
                               return true;
                             })
                  .is_ok());
  return text;
}

// Parses an SSE body: the data of each event, checking the framing.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << "unterminated event";
    if (end == std::string::npos) break;
    const std::string ev = body.substr(at, end - at);
    at = end + 2;
    if (ev.rfind(":", 0) == 0) continue;  // a comment (keep-alive)
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    out.push_back(ev.substr(6));
  }
  return out;
}

TEST(Server, CompletionEqualsStrataRunGreedyText) {
  Serve s(test::kStoriesGguf, 1);
  auto c = s.client();
  auto r = c.Post(
      "/v1/completions",
      R"({"model": "test-model", "prompt": "Once upon a time", "max_tokens": 32, "temperature": 0})",
      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  GenerateOptions g;
  g.prompt = "Once upon a time";
  g.n_predict = 32;
  EXPECT_EQ(j["choices"][0]["text"], solo_greedy(s.model(), g));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "test-model");
  EXPECT_EQ(j["usage"]["completion_tokens"], 32);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");

  // The bundled model's text, as strata run prints it after the prompt
  // (tests/cli checks run).
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().rfind(", there was a little girl", 0), 0u);
}

TEST(Server, StreamedChatEqualsTheWholeResponse) {
  Serve s(quantized_model(), 2, test::kStoriesGguf);
  auto c = s.client();
  const std::string req =
      R"({"messages": [{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Tell me a story."}], "max_tokens": 20, "temperature": 0)";
  auto whole = c.Post("/v1/chat/completions", req + "}", "application/json");
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  json w = json::parse(whole->body);
  EXPECT_EQ(w["object"], "chat.completion");
  EXPECT_EQ(w["choices"][0]["message"]["role"], "assistant");
  const std::string content = w["choices"][0]["message"]["content"];
  EXPECT_FALSE(content.empty());

  auto streamed = c.Post("/v1/chat/completions",
                         req + R"(, "stream": true, "stream_options": {"include_usage": true}})",
                         "application/json");
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  EXPECT_EQ(streamed->get_header_value("Content-Type"), "text/event-stream");
  std::vector<std::string> events = sse_events(streamed->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string finish;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json e = json::parse(events[i]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["id"], json::parse(events[0])["id"]);
    if (e["choices"].empty()) {  // the usage chunk, last before [DONE]
      EXPECT_EQ(i + 2, events.size());
      EXPECT_EQ(e["usage"]["completion_tokens"], w["usage"]["completion_tokens"]);
      continue;
    }
    const json& ch = e["choices"][0];
    if (i == 0) EXPECT_EQ(ch["delta"]["role"], "assistant");
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(text, content);
  EXPECT_EQ(finish, w["choices"][0]["finish_reason"]);

  // A second turn that repeats the conversation reuses the session's cache.
  json turn2 = json::parse(req + "}");
  turn2["messages"].push_back({{"role", "assistant"}, {"content", content}});
  turn2["messages"].push_back({{"role", "user"}, {"content", "Another one."}});
  auto r2 = c.Post("/v1/chat/completions", turn2.dump(), "application/json");
  ASSERT_TRUE(r2);
  ASSERT_EQ(r2->status, 200);
  EXPECT_GT(json::parse(r2->body)["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(),
            10);
}

TEST(Server, BadRequestsGetOpenAIErrors) {
  Serve s(test::kStoriesGguf, 1);
  auto c = s.client();
  struct Case {
    const char* path;
    std::string body;
    int status;
    const char* param;  // nullptr: null
  };
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, nullptr},
      {"/v1/completions", "[1, 2]", 400, nullptr},
      {"/v1/completions", R"({"max_tokens": 5})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": 7})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": "5"})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": -1})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "a", "temperature": 3})", 400, "temperature"},
      {"/v1/completions", R"({"prompt": "a", "top_p": 1.5})", 400, "top_p"},
      {"/v1/completions", R"({"prompt": "a", "n": 2})", 400, "n"},
      {"/v1/completions", R"({"prompt": "a", "stream": "yes"})", 400, "stream"},
      {"/v1/completions", R"({"prompt": "a", "stop": [1]})", 400, "stop"},
      {"/v1/completions", R"({"prompt": [1, 99999]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": "a", "model": "gpt-4"})", 404, "model"},
      {"/v1/chat/completions", R"({"messages": "hi"})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "x"}]})", 400,
       "messages[0].role"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": 5}]})", 400,
       "messages[0].content"},
      {"/v1/completions", R"({"prompt": ")" + std::string(70000, 'a') + "\"}", 413, nullptr},
      {"/v1/nothing", "{}", 404, nullptr},
  };
  for (const Case& k : cases) {
    auto r = c.Post(k.path, k.body, "application/json");
    ASSERT_TRUE(r) << k.body.substr(0, 60);
    EXPECT_EQ(r->status, k.status) << k.body.substr(0, 60) << " -> " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (k.param) {
      EXPECT_EQ(j["error"]["param"], k.param) << r->body;
    } else {
      EXPECT_TRUE(j["error"]["param"].is_null()) << r->body;
    }
  }
  auto g = c.Get("/v1/unknown");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 404);
  // The server still answers after all of that.
  auto ok = c.Post("/v1/completions", R"({"prompt": "Once", "max_tokens": 3})", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("strata_http_responses_total{status=\"400\"} 16"), std::string::npos)
      << m->body;
}

double metric(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  if (!r) return -1;
  const size_t at = r->body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(r->body.substr(at + name.size() + 2));
}

TEST(Server, ClientThatGoesAwayCancelsItsGeneration) {
  Serve s(test::kStoriesGguf, 1);
  auto c = s.client();
  int chunks = 0;
  httplib::Request req;
  auto r = c.Post(
      "/v1/completions", httplib::Headers{},
      R"({"prompt": "Once upon a time", "max_tokens": 400, "stream": true, "temperature": 0, "seed": 1})",
      "application/json");
  ASSERT_TRUE(r);  // sanity: the whole stream works
  // Now read three chunks and hang up.
  httplib::Client c2 = s.client();
  auto r2 = c2.Get("/health");
  ASSERT_TRUE(r2);
  httplib::Request hang;
  hang.method = "POST";
  hang.path = "/v1/completions";
  hang.body = R"({"prompt": "Once upon a time", "max_tokens": 2000, "stream": true, "ignore": 1})";
  hang.set_header("Content-Type", "application/json");
  hang.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
  auto res = c2.send(hang);
  EXPECT_EQ(chunks, 3);
  double cancelled = 0;
  for (int i = 0; i < 100 && cancelled < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancelled = metric(c, "strata_requests_cancelled_total");
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(metric(c, "strata_requests_active"), 0);
  EXPECT_LT(metric(c, "strata_generated_tokens_total"), 400 + 2000);
  auto after =
      c.Post("/v1/completions", R"({"prompt": "Once", "max_tokens": 3})", "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

// 16 clients at once, streaming and not, with malformed requests mixed in:
// every valid request gets exactly its solo greedy text, every bad one its 400.
TEST(Server, ConcurrentClientsGetTheirOwnText) {
  Serve s(quantized_model(), 4, test::kStoriesGguf);
  const std::vector<std::string> prompts = {"Once upon a time", "The dog", "Lily was happy",
                                            "One day, Tom"};
  std::vector<std::string> expected;
  for (const std::string& p : prompts) {
    GenerateOptions g;
    g.prompt = p;
    g.n_predict = 12;
    // A random model emits bytes that are not UTF-8; JSON carries them as
    // U+FFFD.
    expected.push_back(
        json::parse(
            json(solo_greedy(s.model(), g)).dump(-1, ' ', false, json::error_handler_t::replace))
            .get<std::string>());
  }
  std::atomic<int> ok{0}, bad{0}, wrong{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 16; ++t) {
    clients.emplace_back([&, t] {
      auto c = s.client();
      for (int i = 0; i < 5; ++i) {
        const int k = (t + i) % 4;
        if ((t + i) % 5 == 4) {
          auto r = c.Post("/v1/completions", R"({"prompt": "x", "max_tokens": "many"})",
                          "application/json");
          if (r && r->status == 400) ++bad;
          continue;
        }
        json body = {{"prompt", prompts[k]},
                     {"max_tokens", 12},
                     {"temperature", 0},
                     {"stream", (t % 2) == 1}};
        auto r = c.Post("/v1/completions", body.dump(), "application/json");
        if (!r || r->status != 200) {
          ADD_FAILURE() << (r ? r->body : httplib::to_string(r.error()));
          ++wrong;
          continue;
        }
        std::string text;
        if (t % 2) {
          for (const std::string& e : sse_events(r->body)) {
            if (e == "[DONE]") continue;
            json j = json::parse(e);
            if (!j["choices"].empty()) text += j["choices"][0]["text"].get<std::string>();
          }
        } else {
          text = json::parse(r->body)["choices"][0]["text"];
        }
        if (text == expected[k]) {
          ++ok;
        } else {
          ADD_FAILURE() << "'" << text << "' != '" << expected[k] << "'";
          ++wrong;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(ok + bad, 80);
  EXPECT_EQ(bad, 16);
}

}  // namespace
}  // namespace strata
