// The Jinja parser, statements (see jinja_parser.h): {% if %}, {% for %}, {% set %},
// {% macro %}, {% call %}, {% filter %}, {% with %}, loop controls and {% generation %}.
#include "chat/jinja_parser_impl.h"

namespace strata::jinja {
namespace internal {

// Statements up to a {% tag %} named in `stop` (consumed up to and including the name,
// which goes to *stopped) or the end of the template when `stop` is empty.
Body Parser::parse_body(std::initializer_list<std::string_view> stop, std::string* stopped) {
  Nest nest(this);
  Body body;
  while (true) {
    const Token& tok = cur();
    if (tok.type == TokenType::kEof) {
      if (stop.size() == 0) return body;
      std::string want;
      for (std::string_view s : stop) want += (want.empty() ? "'" : " or '") + std::string(s) + "'";
      error("unexpected end of template, expected " + want);
    }
    if (tok.type == TokenType::kText) {
      StmtPtr s = stmt(StmtType::kText, tok);
      s->text = tok.text;
      body.push_back(std::move(s));
      next();
    } else if (tok.type == TokenType::kVarBegin) {
      next();
      StmtPtr s = stmt(StmtType::kOutput, tok);
      s->exprs.push_back(parse_tuple_expr(true));
      if (cur().type != TokenType::kVarEnd) {
        error(fmt::format("expected end of print statement, got {}", describe(cur())));
      }
      next();
      body.push_back(std::move(s));
    } else if (tok.type == TokenType::kBlockBegin) {
      next();
      if (cur().type != TokenType::kName) error("expected a tag name");
      if (std::find(stop.begin(), stop.end(), cur().text) != stop.end()) {
        *stopped = cur().text;
        next();
        return body;
      }
      body.push_back(parse_statement());
    } else {
      error(fmt::format("unexpected {}", describe(tok)));
    }
  }
}

StmtPtr Parser::parse_statement() {
  const Token at = cur();
  const std::string& kw = at.text;
  if (kw == "if") return parse_if();
  if (kw == "for") return parse_for();
  if (kw == "set") return parse_set();
  if (kw == "macro") return parse_macro();
  if (kw == "call") return parse_call_block();
  if (kw == "filter") return parse_filter_block();
  if (kw == "with") return parse_with();
  if (kw == "generation") {
    next();
    expect_block_end();
    StmtPtr s = stmt(StmtType::kScope, at);
    s->bodies.push_back(parse_end({"endgeneration"}));
    return s;
  }
  if (kw == "break" || kw == "continue") {
    if (loop_depth_ == 0) error(fmt::format("'{}' outside of a loop", kw));
    next();
    expect_block_end();
    return stmt(kw == "break" ? StmtType::kBreak : StmtType::kContinue, at);
  }
  static constexpr std::string_view kEnds[] = {"endif",   "endfor",    "endset",       "endmacro",
                                               "endcall", "endfilter", "endwith",      "elif",
                                               "else",    "endraw",    "endgeneration"};
  if (std::find(std::begin(kEnds), std::end(kEnds), kw) != std::end(kEnds)) {
    error(fmt::format("unexpected '{}'", kw));
  }
  error(fmt::format("unknown tag '{}'", kw));
}

// A body closed by one of `ends`, then the end tag's %}.
Body Parser::parse_end(std::initializer_list<std::string_view> ends) {
  std::string stopped;
  Body b = parse_body(ends, &stopped);
  expect_block_end();
  return b;
}

StmtPtr Parser::parse_if() {
  StmtPtr s = stmt(StmtType::kIf, cur());
  next();
  ++if_depth_;
  s->exprs.push_back(parse_tuple_expr(false));
  expect_block_end();
  while (true) {
    std::string kw;
    s->bodies.push_back(parse_body({"elif", "else", "endif"}, &kw));
    if (kw == "elif") {
      s->exprs.push_back(parse_tuple_expr(false));
      expect_block_end();
      continue;
    }
    expect_block_end();
    if (kw == "else") s->bodies.push_back(parse_end({"endif"}));
    break;
  }
  --if_depth_;
  return s;
}

void Parser::parse_targets(std::vector<std::string>* names) {
  const bool paren = is_op("(");
  if (paren) next();
  names->push_back(expect_name());
  while (is_op(",")) {
    next();
    if (cur().type != TokenType::kName) break;
    names->push_back(expect_name());
  }
  if (paren) expect_op(")");
}

StmtPtr Parser::parse_for() {
  StmtPtr s = stmt(StmtType::kFor, cur());
  next();
  parse_targets(&s->names);
  if (!is_name("in")) error(fmt::format("expected 'in', got {}", describe(cur())));
  next();
  s->exprs.push_back(parse_tuple_expr(false));
  if (is_name("if")) {
    next();
    s->exprs.push_back(parse_expression(true));
  } else {
    s->exprs.push_back(nullptr);
  }
  if (is_name("recursive")) error("recursive for loops are not supported");
  expect_block_end();
  ++loop_depth_;
  std::string kw;
  s->bodies.push_back(parse_body({"endfor", "else"}, &kw));
  --loop_depth_;
  expect_block_end();
  s->bodies.emplace_back();
  if (kw == "else") s->bodies.back() = parse_end({"endfor"});
  return s;
}

StmtPtr Parser::parse_set() {
  const Token at = cur();
  next();
  std::vector<std::string> names;
  std::string attr;
  names.push_back(expect_name());
  if (is_op(".")) {
    next();
    attr = expect_name();
  } else {
    while (is_op(",")) {
      next();
      names.push_back(expect_name());
    }
  }
  if (is_op("=")) {
    next();
    StmtPtr s = stmt(StmtType::kSet, at);
    s->names = std::move(names);
    s->attr = std::move(attr);
    s->exprs.push_back(parse_tuple_expr(true));
    expect_block_end();
    return s;
  }
  if (names.size() != 1) error("a block set takes one target");
  expect_block_end();
  StmtPtr s = stmt(StmtType::kSetBlock, at);
  s->names = std::move(names);
  s->attr = std::move(attr);
  s->bodies.push_back(parse_end({"endset"}));
  return s;
}

// (a, b=default, ...) appended to names, defaults (null: none) to exprs.
void Parser::parse_params(Stmt* s) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    s->names.push_back(expect_name());
    if (is_op("=")) {
      next();
      s->exprs.push_back(parse_expression(true));
    } else {
      s->exprs.push_back(nullptr);
    }
  }
  next();
}

StmtPtr Parser::parse_macro() {
  StmtPtr s = stmt(StmtType::kMacro, cur());
  next();
  s->names.push_back(expect_name());
  parse_params(s.get());
  expect_block_end();
  const int saved_loop_depth = loop_depth_;
  loop_depth_ = 0;
  s->bodies.push_back(parse_end({"endmacro"}));
  loop_depth_ = saved_loop_depth;
  return s;
}

StmtPtr Parser::parse_call_block() {
  StmtPtr s = stmt(StmtType::kCallBlock, cur());
  next();
  std::vector<ExprPtr> defaults;
  if (is_op("(")) {
    parse_params(s.get());
    defaults = std::move(s->exprs);
    s->exprs.clear();
  }
  ExprPtr call = parse_expression(true);
  if (call->type != ExprType::kCall) error("expected a call after {% call %}");
  s->exprs.push_back(std::move(call));
  for (auto& d : defaults) s->exprs.push_back(std::move(d));  // exprs[1..]: param defaults
  expect_block_end();
  const int saved_loop_depth = loop_depth_;
  loop_depth_ = 0;
  s->bodies.push_back(parse_end({"endcall"}));
  loop_depth_ = saved_loop_depth;
  return s;
}

StmtPtr Parser::parse_filter_block() {
  const Token at = cur();
  StmtPtr s = stmt(StmtType::kFilterBlock, at);
  next();
  ExprPtr e = node(ExprType::kName, at);
  e->name = std::string(kFilterBlockName);
  e = parse_filter(std::move(e), /*consume_pipe=*/false);
  while (is_op("|")) e = parse_filter(std::move(e), true);
  s->exprs.push_back(std::move(e));
  expect_block_end();
  s->bodies.push_back(parse_end({"endfilter"}));
  return s;
}

StmtPtr Parser::parse_with() {
  StmtPtr s = stmt(StmtType::kWith, cur());
  next();
  while (cur().type != TokenType::kBlockEnd) {
    if (!s->names.empty()) expect_op(",");
    s->names.push_back(expect_name());
    expect_op("=");
    s->exprs.push_back(parse_expression(true));
  }
  expect_block_end();
  s->bodies.push_back(parse_end({"endwith"}));
  return s;
}

}  // namespace internal

Result<std::shared_ptr<const Template>> parse_template(std::string_view source) {
  try {
    auto tpl = std::make_shared<Template>(internal::Parser(lex_template(source)).run());
    return std::shared_ptr<const Template>(std::move(tpl));
  } catch (const JinjaError& e) {
    return Status::errorf("{}:{}: {}", e.line, e.col, e.message);
  } catch (const std::bad_alloc&) {
    return Status::error("out of memory parsing the template");
  }
}

}  // namespace strata::jinja
