// The interpreter's behaviour beyond what the jinja2 reference renderings cover: errors and
// where they point, the limits that stop hostile templates, and the few things transformers'
// sandbox refuses but strata allows (list.append).
#include <gtest/gtest.h>

#include <chrono>
#include <regex>

#include "chat/chat_util.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"

namespace strata::testing {
namespace {

std::string ok(const std::string& source, const std::string& messages = "[]",
               const std::string& extra = "{}") {
  auto r = render(source, messages, extra);
  EXPECT_TRUE(r.is_ok()) << source << "\n" << r.status().message();
  return r.is_ok() ? *r : "";
}

// The error message, which must name the template, line and column.
std::string err(const std::string& source, const std::string& messages = "[]") {
  auto r = render(source, messages);
  EXPECT_FALSE(r.is_ok()) << source << " rendered:\n" << (r.is_ok() ? *r : "");
  if (r.is_ok()) return "";
  EXPECT_TRUE(std::regex_search(r.status().message(), std::regex("^test\\.jinja:\\d+:\\d+: ")))
      << r.status().message();
  return r.status().message();
}

TEST(JinjaErrors, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_EQ(err("line one\n{{ 1 + }}"), "test.jinja:2:8: unexpected end of print statement");
  EXPECT_EQ(err("{% if true %}\nx"),
            "test.jinja:2:2: unexpected end of template, expected 'elif' or 'else' or 'endif'");
  EXPECT_EQ(err("a\n  {% endfor %}"), "test.jinja:2:6: unexpected 'endfor'");
  EXPECT_EQ(err("{% include 'x' %}"), "test.jinja:1:4: unknown tag 'include'");
  EXPECT_EQ(err("{{ 'abc }}"), "test.jinja:1:4: unexpected char ''' (unterminated string)");
  EXPECT_EQ(err("{# never closed"), "test.jinja:1:1: missing end of comment tag");
  EXPECT_EQ(err("ok\n\n   {{ x"), "test.jinja:3:4: unexpected end of template: unclosed '{{'");
  EXPECT_EQ(err("{% for x in y %}{% endfor %}{% break %}"),
            "test.jinja:1:32: 'break' outside of a loop");
  EXPECT_EQ(err("{{ a $ b }}"), "test.jinja:1:6: unexpected char '$'");
}

TEST(JinjaErrors, UnknownFilterOrTest) {
  EXPECT_EQ(err("\n  {{ x | nope }}"), "test.jinja:2:10: no filter named 'nope'");
  EXPECT_EQ(err("{{ x is nope }}"), "test.jinja:1:9: no test named 'nope'");
  // Inside an {% if %} jinja2 defers the error to run time, so an untaken branch renders.
  EXPECT_EQ(ok("{% if false %}{{ x | nope }}{% endif %}ok"), "ok");
  EXPECT_EQ(err("{% if true %}{{ 1 | nope }}{% endif %}"),
            "test.jinja:1:21: no filter named 'nope'");
}

TEST(JinjaErrors, RaiseExceptionMessage) {
  EXPECT_EQ(err("ab\n  {{ raise_exception('Roles must alternate') }}"),
            "test.jinja:2:6: Roles must alternate");
}

TEST(JinjaErrors, UndefinedSemantics) {
  EXPECT_EQ(ok("[{{ nothing }}][{{ nothing is defined }}][{{ nothing | length }}]"),
            "[][False][0]");
  EXPECT_EQ(err("{{ nothing.attr }}"), "test.jinja:1:11: 'nothing' is undefined");
  EXPECT_EQ(err("{{ nothing + 1 }}"), "test.jinja:1:12: 'nothing' is undefined");
  EXPECT_EQ(err("{% set d = {} %}{{ d.a.b }}"),
            "test.jinja:1:23: 'dict object' has no attribute 'a'");
  EXPECT_EQ(err("{{ nothing() }}"), "test.jinja:1:4: 'nothing' is undefined");
  EXPECT_EQ(err("{{ 1 + 'a' }}"),
            "test.jinja:1:6: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(err("{{ 1 // 0 }}"), "test.jinja:1:6: integer division or modulo by zero");
  EXPECT_EQ(err("{{ 2 ** 64 }}"), "test.jinja:1:6: integer overflow");
}

TEST(JinjaLimits, DeepRecursionIsAnError) {
  EXPECT_NE(err("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("nests deeper"),
            std::string::npos);
  std::string parens(5000, '(');
  EXPECT_NE(err("{{ " + parens + "1" + std::string(5000, ')') + " }}").find("too deeply"),
            std::string::npos);
  std::string chain = "{{ 1";
  for (int i = 0; i < 20000; ++i) chain += " + 1";
  EXPECT_NE(err(chain + " }}").find("nested too deeply"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 2000; ++i) ifs += "{% if true %}";
  EXPECT_NE(err(ifs).find("nested too deeply"), std::string::npos);
}

TEST(JinjaLimits, HugeLoopsStop) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NE(err("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
                .find("loop iterations and calls"),
            std::string::npos);
  // Exponential recursion within the depth limit: stopped by the step budget.
  EXPECT_NE(
      err("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
          "{{ f(60) }}")
          .find("loop iterations and calls"),
      std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_NE(err("{{ range(1000000) | length }}").find("range too big"), std::string::npos);
}

TEST(JinjaLimits, OutputAndStringsAreBounded) {
  EXPECT_NE(err("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}").find("output exceeds"),
            std::string::npos);
  EXPECT_NE(err("{% set ns = namespace(s='x') %}{% for i in range(64) %}"
                "{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                .find("byte limit"),
            std::string::npos);
  EXPECT_NE(err("{{ 'x' * 100000000000 }}").find("byte limit"), std::string::npos);
  EXPECT_NE(err("{% set l = [] %}{% set _ = l.append(l) %}{{ l }}").find("contains itself"),
            std::string::npos);
  // Copying a large string over and over is bounded by the work budget.
  EXPECT_NE(err("{% set big = 'x' * 10000000 %}{% for i in range(100000) %}{% set c = big ~ '' %}"
                "{% endfor %}")
                .find("bytes of strings"),
            std::string::npos);
}

TEST(JinjaLimits, CustomLimits) {
  auto tpl = jinja::parse_template("{% for i in range(10) %}{{ i }}{% endfor %}");
  ASSERT_TRUE(tpl.is_ok());
  jinja::RenderLimits limits;
  limits.max_steps = 5;
  auto out = jinja::render_template(**tpl, jinja::Value::dict(), limits);
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().message(), "1:4: template runs more than 5 loop iterations and calls");
}

TEST(JinjaExtensions, ListAppendAndPop) {
  // transformers' ImmutableSandboxedEnvironment refuses these; llama.cpp and vLLM templates
  // use them, and allowing them costs nothing.
  EXPECT_EQ(
      ok("{% set ns = namespace(l=[]) %}{% for x in [1, 2, 3] %}{% set _ = ns.l.append(x * 2) %}"
         "{% endfor %}{{ ns.l }} {{ ns.l.pop() }} {{ ns.l }} {{ ns.l.pop(0) }} {{ ns.l }}"),
      "[2, 4, 6] 6 [2, 4] 2 [4]");
  EXPECT_EQ(ok("{% generation %}kept{% endgeneration %}"), "kept");
}

TEST(JinjaValues, PythonPrinting) {
  EXPECT_EQ(ok("{{ [1, 'a', none, true, 1.5, {'k': (1,)}] }}"),
            "[1, 'a', None, True, 1.5, {'k': (1,)}]");
  EXPECT_EQ(ok("{{ 1e22 }} {{ 1e-7 }} {{ 100.0 }} {{ 1/3 }} {{ -0.0 }} {{ 123456789.125 }}"),
            "1e+22 1e-07 100.0 0.3333333333333333 -0.0 123456789.125");
  EXPECT_EQ(ok("{{ \"it's\" }} {{ [\"it's\", 'a\"b', 'tab\\there', 'x\\x01'] }}"),
            "it's [\"it's\", 'a\"b', 'tab\\there', 'x\\x01']");
}

TEST(JinjaValues, UnicodeIsIndexedByCodePoint) {
  EXPECT_EQ(ok("{{ m[0].content | length }} {{ m[0].content[1] }} {{ m[0].content[-1] }} "
               "{{ m[0].content[::-1] }}",
               "[]", R"({"m": [{"content": "h\u00e9\ud83d\udc4b"}]})"),
            "3 \xc3\xa9 \xf0\x9f\x91\x8b \xf0\x9f\x91\x8b\xc3\xa9h");
}

TEST(ChatTemplate, ContextLikeTransformers) {
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  in.add_generation_prompt = false;
  in.bos_token = "<s>";
  in.now = 1700049600;
  auto out = render_chat_template(
      "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools }}|{{ documents }}|"
      "{{ messages | length }}|{{ enable_thinking is defined }}|{{ strftime_now('%Y') }}",
      "t", in);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(*out, "<s>||False|None|None|1|False|2023");
  in.extra_context = nlohmann::ordered_json::parse(R"({"enable_thinking": false})");
  in.tools = nlohmann::ordered_json::parse(R"([{"b": 1, "a": 2}])");
  out = render_chat_template("{{ enable_thinking }} {{ tools[0] | tojson }}", "t", in);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(*out, "False {\"b\": 1, \"a\": 2}");  // keys in the order given
}

TEST(ChatTemplate, BadInputs) {
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(R"({"role": "user"})");
  auto out = render_chat_template("x", "t.jinja", in);
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().message(), "t.jinja: messages must be a JSON array");
  in.messages = nlohmann::ordered_json::array();
  in.tools = "nope";
  EXPECT_FALSE(render_chat_template("x", "t.jinja", in).is_ok());
}

TEST(ChatTemplate, Fallback) {
  auto out = render(std::string(kFallbackChatTemplate),
                    R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])");
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(
      *out,
      "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace strata::testing
