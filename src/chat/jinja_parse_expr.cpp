// The Jinja parser, expressions (see jinja_parser.h for the precedence).
#include "chat/jinja_parser_impl.h"

namespace strata::jinja::internal {

bool Parser::at_tuple_end() const {
  const TokenType t = cur().type;
  return t == TokenType::kBlockEnd || t == TokenType::kVarEnd || t == TokenType::kEof ||
         is_op(")") || is_op("]") || is_op("}") || is_op("=") || is_name("if") ||
         is_name("recursive");
}

// `a, b` as a tuple (in {{ }}, set and for); a single expression otherwise.
ExprPtr Parser::parse_tuple_expr(bool with_condexpr) {
  const Token at = cur();
  ExprPtr first = parse_expression(with_condexpr);
  if (!is_op(",")) return first;
  ExprPtr t = node(ExprType::kTuple, at);
  add(t.get(), std::move(first));
  while (is_op(",")) {
    next();
    if (at_tuple_end()) break;
    add(t.get(), parse_expression(with_condexpr));
  }
  return t;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  Nest nest(this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
  const Token at = cur();
  ExprPtr e = parse_or();
  while (is_name("if")) {
    next();
    ExprPtr cond = parse_or();
    ExprPtr other;
    if (is_name("else")) {
      next();
      other = parse_condexpr();
    }
    ExprPtr c = node(ExprType::kCond, at);
    add(c.get(), std::move(e));
    add(c.get(), std::move(cond));
    add(c.get(), std::move(other));
    e = std::move(c);
  }
  return e;
}

ExprPtr Parser::parse_or() {
  ExprPtr e = parse_and();
  while (is_name("or")) {
    const Token at = cur();
    next();
    e = binary(ExprType::kOr, at, "or", std::move(e), parse_and());
  }
  return e;
}

ExprPtr Parser::parse_and() {
  ExprPtr e = parse_not();
  while (is_name("and")) {
    const Token at = cur();
    next();
    e = binary(ExprType::kAnd, at, "and", std::move(e), parse_not());
  }
  return e;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    Nest nest(this);
    const Token at = cur();
    next();
    ExprPtr e = node(ExprType::kNot, at);
    add(e.get(), parse_not());
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Token at = cur();
  ExprPtr first = parse_math1();
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (cur().type == TokenType::kOp &&
        (is_op("==") || is_op("!=") || is_op("<") || is_op("<=") || is_op(">") || is_op(">="))) {
      op = cur().text;
      next();
    } else if (is_name("in")) {
      op = "in";
      next();
    } else if (is_name("not") && peek().type == TokenType::kName && peek().text == "in") {
      op = "not in";
      next();
      next();
    } else {
      break;
    }
    if (!cmp) {
      cmp = node(ExprType::kCompare, at);
      add(cmp.get(), std::move(first));
    }
    cmp->ops.push_back(op);
    add(cmp.get(), parse_math1());
  }
  return cmp ? std::move(cmp) : std::move(first);
}

ExprPtr Parser::parse_math1() {
  ExprPtr e = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token at = cur();
    next();
    e = binary(ExprType::kBinary, at, at.text, std::move(e), parse_concat());
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  ExprPtr e = parse_math2();
  while (is_op("~")) {
    const Token at = cur();
    next();
    e = binary(ExprType::kBinary, at, "~", std::move(e), parse_math2());
  }
  return e;
}

ExprPtr Parser::parse_math2() {
  ExprPtr e = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token at = cur();
    next();
    e = binary(ExprType::kBinary, at, at.text, std::move(e), parse_pow());
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  ExprPtr e = parse_unary(true);
  while (is_op("**")) {
    const Token at = cur();
    next();
    e = binary(ExprType::kBinary, at, "**", std::move(e), parse_unary(true));
  }
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  Nest nest(this);
  const Token at = cur();
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    next();
    e = node(at.text == "-" ? ExprType::kNeg : ExprType::kPos, at);
    add(e.get(), parse_unary(false));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::literal(const Token& at, Value v) {
  ExprPtr e = node(ExprType::kLiteral, at);
  e->value = std::move(v);
  return e;
}

ExprPtr Parser::parse_primary() {
  Nest nest(this);
  const Token at = cur();
  switch (at.type) {
    case TokenType::kName: {
      next();
      if (at.text == "true" || at.text == "True") return literal(at, Value::boolean(true));
      if (at.text == "false" || at.text == "False") return literal(at, Value::boolean(false));
      if (at.text == "none" || at.text == "None") return literal(at, Value::none());
      ExprPtr e = node(ExprType::kName, at);
      e->name = at.text;
      return e;
    }
    case TokenType::kString: {
      std::string s;
      while (cur().type == TokenType::kString) {  // adjacent literals concatenate
        s += cur().text;
        next();
      }
      return literal(at, Value::string(std::move(s)));
    }
    case TokenType::kInt:
      next();
      return literal(at, Value::integer(at.int_value));
    case TokenType::kFloat:
      next();
      return literal(at, Value::number(at.float_value));
    default:
      break;
  }
  if (is_op("(")) {
    next();
    if (is_op(")")) {
      next();
      return node(ExprType::kTuple, at);
    }
    ExprPtr first = parse_expression(true);
    if (is_op(")")) {
      next();
      return first;
    }
    ExprPtr t = node(ExprType::kTuple, at);
    add(t.get(), std::move(first));
    while (is_op(",")) {
      next();
      if (is_op(")")) break;
      add(t.get(), parse_expression(true));
    }
    expect_op(")");
    return t;
  }
  if (is_op("[")) {
    next();
    ExprPtr l = node(ExprType::kList, at);
    while (!is_op("]")) {
      if (!l->kids.empty()) expect_op(",");
      if (is_op("]")) break;
      add(l.get(), parse_expression(true));
    }
    next();
    return l;
  }
  if (is_op("{")) {
    next();
    ExprPtr d = node(ExprType::kDict, at);
    while (!is_op("}")) {
      if (!d->kids.empty()) expect_op(",");
      if (is_op("}")) break;
      add(d.get(), parse_expression(true));
      expect_op(":");
      add(d.get(), parse_expression(true));
    }
    next();
    return d;
  }
  error(fmt::format("unexpected {}", describe(at)));
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    const Token at = cur();
    if (is_op(".")) {
      next();
      if (cur().type == TokenType::kName) {
        ExprPtr a = node(ExprType::kAttr, at);
        a->name = cur().text;
        next();
        add(a.get(), std::move(e));
        e = std::move(a);
      } else if (cur().type == TokenType::kInt) {
        ExprPtr idx = literal(cur(), Value::integer(cur().int_value));
        next();
        e = binary(ExprType::kItem, at, "", std::move(e), std::move(idx));
      } else {
        error(fmt::format("expected an attribute name, got {}", describe(cur())));
      }
    } else if (is_op("[")) {
      next();
      e = parse_subscript(std::move(e), at);
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr e, const Token& at) {
  ExprPtr start;
  if (!is_op(":")) {
    start = parse_expression(true);
    if (is_op(",")) error("tuple subscripts are not supported");
    if (!is_op(":")) {
      expect_op("]");
      return binary(ExprType::kItem, at, "", std::move(e), std::move(start));
    }
  }
  next();  // ':'
  ExprPtr stop, step;
  if (!is_op("]") && !is_op(":")) stop = parse_expression(true);
  if (is_op(":")) {
    next();
    if (!is_op("]")) step = parse_expression(true);
  }
  expect_op("]");
  ExprPtr s = node(ExprType::kSlice, at);
  add(s.get(), std::move(e));
  add(s.get(), std::move(start));
  add(s.get(), std::move(stop));
  add(s.get(), std::move(step));
  return s;
}

// (args, name=value) appended to `e`'s kids and kwargs.
void Parser::parse_call_args(Expr* e) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    if (is_op("*") || is_op("**")) error("*args and **kwargs in calls are not supported");
    if (cur().type == TokenType::kName && peek().type == TokenType::kOp && peek().text == "=") {
      std::string key = cur().text;
      next();
      next();
      ExprPtr value = parse_expression(true);
      grow(e, *value);
      e->kwargs.emplace_back(std::move(key), std::move(value));
    } else {
      if (!e->kwargs.empty()) error("positional argument after a keyword argument");
      add(e, parse_expression(true));
    }
  }
  next();
}

ExprPtr Parser::parse_call(ExprPtr callee) {
  ExprPtr c = node(ExprType::kCall, cur());
  c->line = callee->line;  // errors point at the start of `f(...)`, not its parenthesis
  c->col = callee->col;
  add(c.get(), std::move(callee));
  parse_call_args(c.get());
  return c;
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) {
      e = parse_filter(std::move(e), true);
    } else if (is_name("is")) {
      e = parse_test(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

std::string Parser::dotted_name() {
  std::string n = expect_name();
  while (is_op(".")) {
    next();
    n += "." + expect_name();
  }
  return n;
}

ExprPtr Parser::parse_filter(ExprPtr subject, bool consume_pipe) {
  if (consume_pipe) next();
  const Token at = cur();
  ExprPtr f = node(ExprType::kFilter, at);
  f->name = dotted_name();
  f->known_callee = has_filter(f->name);
  // jinja2 reports an unknown filter when compiling, unless it sits inside an {% if %}
  // (which may test whether the filter exists).
  if (!f->known_callee && if_depth_ == 0) {
    throw JinjaError{fmt::format("no filter named '{}'", f->name), at.line, at.col};
  }
  add(f.get(), std::move(subject));
  if (is_op("(")) parse_call_args(f.get());
  return f;
}

ExprPtr Parser::parse_test(ExprPtr subject) {
  next();  // 'is'
  ExprPtr t = node(ExprType::kTest, cur());
  if (is_name("not")) {
    t->negated = true;
    next();
  }
  const Token at = cur();
  t->name = dotted_name();
  t->known_callee = has_test(t->name);
  if (!t->known_callee && if_depth_ == 0) {
    throw JinjaError{fmt::format("no test named '{}'", t->name), at.line, at.col};
  }
  add(t.get(), std::move(subject));
  const TokenType ty = cur().type;
  if (is_op("(")) {
    parse_call_args(t.get());
  } else if ((ty == TokenType::kName || ty == TokenType::kString || ty == TokenType::kInt ||
              ty == TokenType::kFloat || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error("you cannot chain multiple tests with is");
    add(t.get(), parse_postfix(parse_primary()));
  }
  return t;
}

}  // namespace strata::jinja::internal
