#pragma once
// The Jinja parser's internals, shared by jinja_parser.cpp (statements) and
// jinja_parse_expr.cpp (expressions). Recursive descent that mirrors jinja2's parser, so
// precedence and the odd corners (`-2**2` is 4, `-x|abs` is `(-x)|abs`, `x is divisibleby 3`
// takes one bare argument) come out the same.

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace strata::jinja::internal {

// Statement nesting ({% if %} in {% for %} ...) and expression height. Deeper input is
// hostile: it would only exhaust the stack of the parser, the evaluator and the destructor.
inline constexpr int kMaxNesting = 128;
inline constexpr int kMaxExprHeight = 256;

// One parse; throws JinjaError (with the line and column) on the first error.
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Template run() {
    Template tpl;
    std::string stopped;
    tpl.body = parse_body({}, &stopped);
    return tpl;
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& peek() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool is_op(std::string_view op) const { return cur().type == TokenType::kOp && cur().text == op; }
  bool is_name(std::string_view n) const {
    return cur().type == TokenType::kName && cur().text == n;
  }
  [[noreturn]] void error(std::string message) const {
    throw JinjaError{std::move(message), cur().line, cur().col};
  }
  std::string describe(const Token& t) const {
    switch (t.type) {
      case TokenType::kEof:
        return "end of template";
      case TokenType::kBlockEnd:
        return "end of statement block";
      case TokenType::kVarEnd:
        return "end of print statement";
      case TokenType::kString:
        return "string";
      default:
        return "'" + t.text + "'";
    }
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) error(fmt::format("expected '{}', got {}", op, describe(cur())));
    next();
  }
  std::string expect_name() {
    if (cur().type != TokenType::kName)
      error(fmt::format("expected a name, got {}", describe(cur())));
    std::string n = cur().text;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TokenType::kBlockEnd) {
      error(fmt::format("expected end of statement block, got {}", describe(cur())));
    }
    next();
  }

  struct Nest {
    explicit Nest(Parser* p) : p_(p) {
      if (++p_->nesting_ > kMaxNesting) p_->error("template nested too deeply");
    }
    ~Nest() { --p_->nesting_; }
    Parser* p_;
  };
  ExprPtr node(ExprType type, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->type = type;
    e->line = at.line;
    e->col = at.col;
    return e;
  }
  // Adds a child, refusing trees taller than kMaxExprHeight (a chain like a+a+a+... nests
  // to the left and would recurse that deep when evaluated and destroyed).
  void add(Expr* parent, ExprPtr kid) {
    if (kid) grow(parent, *kid);
    parent->kids.push_back(std::move(kid));
  }
  void grow(Expr* parent, const Expr& kid) {
    if (kid.height + 1 > kMaxExprHeight) error("expression nested too deeply");
    parent->height = std::max(parent->height, kid.height + 1);
  }
  ExprPtr binary(ExprType type, const Token& at, std::string op, ExprPtr a, ExprPtr b) {
    ExprPtr e = node(type, at);
    e->name = std::move(op);
    add(e.get(), std::move(a));
    add(e.get(), std::move(b));
    return e;
  }

  StmtPtr stmt(StmtType type, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->type = type;
    s->line = at.line;
    s->col = at.col;
    return s;
  }

  // ---- statements (jinja_parser.cpp) ----

  // Statements up to a {% tag %} named in `stop` (consumed up to and including the name,
  // which goes to *stopped) or the end of the template when `stop` is empty.
  Body parse_body(std::initializer_list<std::string_view> stop, std::string* stopped);
  StmtPtr parse_statement();

  // A body closed by one of `ends`, then the end tag's %}.
  Body parse_end(std::initializer_list<std::string_view> ends);
  StmtPtr parse_if();
  void parse_targets(std::vector<std::string>* names);
  StmtPtr parse_for();
  StmtPtr parse_set();

  // (a, b=default, ...) appended to names, defaults (null: none) to exprs.
  void parse_params(Stmt* s);
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();

  // ---- expressions (jinja_parse_expr.cpp) ----

  bool at_tuple_end() const;

  // `a, b` as a tuple (in {{ }}, set and for); a single expression otherwise.
  ExprPtr parse_tuple_expr(bool with_condexpr);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr literal(const Token& at, Value v);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr e, const Token& at);

  // (args, name=value) appended to `e`'s kids and kwargs.
  void parse_call_args(Expr* e);
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_filter_expr(ExprPtr e);
  std::string dotted_name();
  ExprPtr parse_filter(ExprPtr subject, bool consume_pipe);
  ExprPtr parse_test(ExprPtr subject);

  std::vector<Token> t_;
  size_t i_ = 0;
  int nesting_ = 0;
  int if_depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace strata::jinja::internal
