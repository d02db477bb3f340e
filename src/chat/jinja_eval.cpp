// The Jinja evaluator (see jinja_eval.h). Scoping follows jinja2: every iteration of a for
// loop and every macro call gets its own scope, so a {% set %} inside them is gone
// afterwards (namespace attributes are how templates carry state out); {% if %} blocks share
// their enclosing scope.
#include "chat/jinja_eval.h"

#include <fmt/format.h>

#include "chat/jinja_builtins.h"

namespace strata::jinja {

struct FrameGuard {
  FrameGuard(Interp* in, bool barrier) : in_(in) {
    in_->frames_.emplace_back();
    in_->frames_.back().barrier = barrier;
  }
  ~FrameGuard() { in_->frames_.pop_back(); }
  Interp* in_;
};

struct DepthGuard {
  explicit DepthGuard(Interp* in) : in_(in) {
    if (++in_->depth_ > in_->limits_.max_depth) {
      fail(
          fmt::format("template nests deeper than {} levels (recursion?)", in_->limits_.max_depth));
    }
  }
  ~DepthGuard() { --in_->depth_; }
  Interp* in_;
};

namespace {

[[noreturn]] void fail_undefined(const Value& v) {
  fail(v.str().empty() ? std::string("undefined value") : v.str());
}

}  // namespace

Interp::Interp(const Template& tpl, const Value& context, const RenderLimits& limits)
    : tpl_(tpl), context_(context), limits_(limits) {}

std::string Interp::render() {
  std::string out;
  out_ = &out;
  FrameGuard top(this, false);
  exec_body(tpl_.body);
  return out;
}

void Interp::charge(uint64_t bytes) {
  work_bytes_ += bytes;
  if (work_bytes_ > limits_.max_work_bytes) {
    fail(fmt::format("template builds more than {} bytes of strings", limits_.max_work_bytes));
  }
}

void Interp::check_string_size(uint64_t bytes) {
  if (bytes > limits_.max_output_bytes) {
    fail(fmt::format("string of {} bytes exceeds the {} byte limit", bytes,
                     limits_.max_output_bytes));
  }
  charge(bytes);
}

void Interp::step() {
  if (++steps_ > limits_.max_steps) {
    fail(fmt::format("template runs more than {} loop iterations and calls", limits_.max_steps));
  }
}

void Interp::emit(std::string_view s) {
  if (out_->size() + s.size() > limits_.max_output_bytes) {
    fail(fmt::format("output exceeds {} bytes", limits_.max_output_bytes));
  }
  charge(s.size());
  out_->append(s);
}

std::string Interp::render_to_string(const Body& body) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  try {
    exec_body(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

Value Interp::lookup(const std::string& name) const {
  for (size_t i = frames_.size(); i-- > 0;) {
    for (const auto& [k, v] : frames_[i].vars) {
      if (k == name) return v;
    }
    if (frames_[i].barrier) {
      for (const auto& [k, v] : frames_[0].vars) {  // a macro still sees top-level names
        if (k == name) return v;
      }
      break;
    }
  }
  if (context_.is_dict()) {
    if (const Value* v = context_.dict_ref().find(std::string_view(name))) return *v;
  }
  Value g = builtin_global(name);
  if (!g.is_undefined()) return g;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

void Interp::assign(const std::string& name, Value v) {
  auto& vars = frames_.back().vars;
  for (auto& kv : vars) {
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

// ---- statements ----

Interp::Flow Interp::exec_body(const Body& body) {
  for (const StmtPtr& s : body) {
    const Flow f = exec(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interp::Flow Interp::exec(const Stmt& s) {
  DepthGuard depth(this);
  try {
    return exec_inner(s);
  } catch (JinjaError& e) {
    if (e.line == 0) {
      e.line = s.line;
      e.col = s.col;
    }
    throw;
  }
}

Interp::Flow Interp::exec_inner(const Stmt& s) {
  switch (s.type) {
    case StmtType::kText:
      emit(s.text);
      return Flow::kNormal;
    case StmtType::kOutput: {
      const Value v = eval(*s.exprs[0]);
      emit(v.is_string() ? std::string_view(v.str()) : std::string_view(to_str(v)));
      return Flow::kNormal;
    }
    case StmtType::kIf:
      for (size_t i = 0; i < s.bodies.size(); ++i) {
        if (i >= s.exprs.size() || truthy(eval(*s.exprs[i]))) return exec_body(s.bodies[i]);
      }
      return Flow::kNormal;
    case StmtType::kFor:
      return exec_for(s);
    case StmtType::kSet:
    case StmtType::kSetBlock:
      exec_set(s);
      return Flow::kNormal;
    case StmtType::kMacro: {
      const Stmt* m = &s;
      assign(s.names[0], Value::callable(s.names[0], [m](Interp& in, CallArgs& args) {
               return in.call_macro(m->names, 1, m->exprs, 0, m->bodies[0], args);
             }));
      return Flow::kNormal;
    }
    case StmtType::kCallBlock:
      exec_call_block(s);
      return Flow::kNormal;
    case StmtType::kFilterBlock: {
      Value text = Value::string(render_to_string(s.bodies[0]));
      FrameGuard scope(this, false);
      assign(std::string(kFilterBlockName), std::move(text));
      emit(to_str(eval(*s.exprs[0])));
      return Flow::kNormal;
    }
    case StmtType::kWith: {
      FrameGuard scope(this, false);
      for (size_t i = 0; i < s.names.size(); ++i) assign(s.names[i], eval(*s.exprs[i]));
      return exec_body(s.bodies[0]);
    }
    case StmtType::kBreak:
      return Flow::kBreak;
    case StmtType::kContinue:
      return Flow::kContinue;
    case StmtType::kScope:
      return exec_body(s.bodies[0]);
  }
  return Flow::kNormal;
}

Interp::Flow Interp::exec_for(const Stmt& s) {
  const Value iterable = eval(*s.exprs[0]);
  std::vector<Value> items = iterate(*this, iterable);
  auto bind = [&](const Value& item) {
    if (s.names.size() == 1) {
      assign(s.names[0], item);
      return;
    }
    std::vector<Value> parts = iterate(*this, item);
    if (parts.size() != s.names.size()) {
      fail(fmt::format("cannot unpack {} values into {} loop variables", parts.size(),
                       s.names.size()));
    }
    for (size_t k = 0; k < parts.size(); ++k) assign(s.names[k], parts[k]);
  };
  if (s.exprs[1]) {  // `for x in xs if cond`: filtered before loop.index and length count
    std::vector<Value> kept;
    for (const Value& item : items) {
      step();
      FrameGuard scope(this, false);
      bind(item);
      if (truthy(eval(*s.exprs[1]))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(s.bodies[1]);
  const int64_t n = static_cast<int64_t>(items.size());
  // One loop object per loop, updated in place each iteration (building it afresh would
  // dominate the cost of a small loop body).
  auto index0 = std::make_shared<int64_t>(0);
  Value loop = Value::namespace_object();
  std::vector<std::pair<Value, Value>>& fields = loop.dict_ref().items;
  for (const char* key : {"index", "index0", "revindex", "revindex0", "first", "last", "length",
                          "depth", "depth0", "previtem", "nextitem"}) {
    fields.emplace_back(Value::string(key), Value());
  }
  fields.emplace_back(Value::string("cycle"),
                      Value::callable("cycle", [index0](Interp&, CallArgs& a) {
                        if (a.pos.empty()) fail("no items for cycling given");
                        return a.pos[static_cast<size_t>(*index0) % a.pos.size()];
                      }));
  for (int64_t i = 0; i < n; ++i) {
    step();
    FrameGuard scope(this, false);
    *index0 = i;
    fields[0].second = Value::integer(i + 1);
    fields[1].second = Value::integer(i);
    fields[2].second = Value::integer(n - i);
    fields[3].second = Value::integer(n - i - 1);
    fields[4].second = Value::boolean(i == 0);
    fields[5].second = Value::boolean(i == n - 1);
    fields[6].second = Value::integer(n);
    fields[7].second = Value::integer(1);
    fields[8].second = Value::integer(0);
    // previtem / nextitem are undefined at the ends, as in jinja2.
    fields[9].second = i > 0 ? items[i - 1] : Value::undefined("'loop' has no previtem here");
    fields[10].second = i + 1 < n ? items[i + 1] : Value::undefined("'loop' has no nextitem here");
    assign("loop", loop);
    bind(items[i]);
    if (exec_body(s.bodies[0]) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interp::exec_set(const Stmt& s) {
  Value v =
      s.type == StmtType::kSet ? eval(*s.exprs[0]) : Value::string(render_to_string(s.bodies[0]));
  if (!s.attr.empty()) {
    const Value ns = lookup(s.names[0]);
    if (!ns.is_namespace()) fail("cannot assign attribute on non-namespace object");
    ns.dict_ref().set(Value::string(s.attr), std::move(v));
    return;
  }
  if (s.names.size() == 1) {
    assign(s.names[0], std::move(v));
    return;
  }
  std::vector<Value> parts = iterate(*this, v);
  if (parts.size() != s.names.size()) {
    fail(fmt::format("cannot unpack {} values into {} names", parts.size(), s.names.size()));
  }
  for (size_t k = 0; k < parts.size(); ++k) assign(s.names[k], parts[k]);
}

void Interp::exec_call_block(const Stmt& s) {
  const Stmt* st = &s;
  Value caller = Value::callable("caller", [st](Interp& in, CallArgs& args) {
    return in.call_macro(st->names, 0, st->exprs, 1, st->bodies[0], args);
  });
  emit(to_str(eval_call(*s.exprs[0], &caller)));
}

Value Interp::call_macro(const std::vector<std::string>& names, size_t first_param,
                         const std::vector<ExprPtr>& defaults, size_t first_default,
                         const Body& body, CallArgs& args) {
  step();
  DepthGuard depth(this);
  FrameGuard scope(this, true);
  const size_t n = names.size() - first_param;
  std::vector<bool> used_kw(args.kw.size(), false);
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = names[first_param + i];
    Value v;
    bool found = false;
    if (i < args.pos.size()) {
      v = args.pos[i];
      found = true;
    }
    for (size_t k = 0; !found && k < args.kw.size(); ++k) {
      if (args.kw[k].first == name) {
        v = args.kw[k].second;
        used_kw[k] = found = true;
      }
    }
    const ExprPtr& def = defaults[first_default + i];
    if (!found)
      v = def ? eval(*def) : Value::undefined(fmt::format("parameter '{}' was not provided", name));
    assign(name, std::move(v));
  }
  std::vector<Value> extra;
  for (size_t i = n; i < args.pos.size(); ++i) extra.push_back(args.pos[i]);
  assign("varargs", Value::tuple(std::move(extra)));
  Value kwargs = Value::dict();
  for (size_t k = 0; k < args.kw.size(); ++k) {
    if (args.kw[k].first == "caller") {
      assign("caller", args.kw[k].second);
    } else if (!used_kw[k]) {
      kwargs.dict_ref().set(Value::string(args.kw[k].first), args.kw[k].second);
    }
  }
  assign("kwargs", std::move(kwargs));
  return Value::string(render_to_string(body));
}

// ---- expressions ----

Value Interp::eval(const Expr& e) {
  DepthGuard depth(this);
  try {
    return eval_inner(e);
  } catch (JinjaError& err) {
    if (err.line == 0) {
      err.line = e.line;
      err.col = e.col;
    }
    throw;
  }
}

void Interp::eval_args(const Expr& e, size_t first, CallArgs* args) {
  for (size_t i = first; i < e.kids.size(); ++i) args->pos.push_back(eval(*e.kids[i]));
  for (const auto& [k, v] : e.kwargs) args->kw.emplace_back(k, eval(*v));
}

Value Interp::eval_inner(const Expr& e) {
  switch (e.type) {
    case ExprType::kLiteral:
      return e.value;
    case ExprType::kName:
      return lookup(e.name);
    case ExprType::kList:
    case ExprType::kTuple: {
      std::vector<Value> items;
      items.reserve(e.kids.size());
      for (const ExprPtr& k : e.kids) items.push_back(eval(*k));
      charge(items.size() * sizeof(Value));
      return e.type == ExprType::kList ? Value::list(std::move(items))
                                       : Value::tuple(std::move(items));
    }
    case ExprType::kDict: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < e.kids.size(); i += 2) {
        Value k = eval(*e.kids[i]);
        d.dict_ref().set(std::move(k), eval(*e.kids[i + 1]));
      }
      charge(e.kids.size() * sizeof(Value));
      return d;
    }
    case ExprType::kAttr:
      return get_attr(eval(*e.kids[0]), e.name);
    case ExprType::kItem: {
      const Value obj = eval(*e.kids[0]);
      return get_item(obj, eval(*e.kids[1]));
    }
    case ExprType::kSlice: {
      const Value obj = eval(*e.kids[0]);
      Value part[3];
      for (size_t i = 0; i < 3; ++i) part[i] = e.kids[i + 1] ? eval(*e.kids[i + 1]) : Value::none();
      return slice_sequence(*this, obj, part[0], part[1], part[2]);
    }
    case ExprType::kCall:
      return eval_call(e, nullptr);
    case ExprType::kFilter: {
      const Value subject = eval(*e.kids[0]);
      if (!e.known_callee) fail(fmt::format("no filter named '{}'", e.name));
      CallArgs a;
      eval_args(e, 1, &a);
      return call_filter(*this, e.name, subject, a);
    }
    case ExprType::kTest: {
      const Value subject = eval(*e.kids[0]);
      if (!e.known_callee) fail(fmt::format("no test named '{}'", e.name));
      CallArgs a;
      eval_args(e, 1, &a);
      return Value::boolean(call_test(*this, e.name, subject, a) != e.negated);
    }
    case ExprType::kNot:
      return Value::boolean(!truthy(eval(*e.kids[0])));
    case ExprType::kNeg:
    case ExprType::kPos: {
      const Value v = eval(*e.kids[0]);
      if (v.is_undefined()) fail_undefined(v);
      const bool neg = e.type == ExprType::kNeg;
      if (v.is_float()) return Value::number(neg ? -v.as_float() : v.as_float());
      if (v.is_int() || v.is_bool()) {
        if (!neg) return Value::integer(v.as_int());
        if (v.as_int() == std::numeric_limits<int64_t>::min()) fail("integer overflow");
        return Value::integer(-v.as_int());
      }
      fail(fmt::format("bad operand type for unary {}: '{}'", neg ? '-' : '+', type_name(v)));
    }
    case ExprType::kBinary:
      return eval_binary(e);
    case ExprType::kCompare:
      return eval_compare(e);
    case ExprType::kAnd: {
      Value a = eval(*e.kids[0]);
      return truthy(a) ? eval(*e.kids[1]) : a;
    }
    case ExprType::kOr: {
      Value a = eval(*e.kids[0]);
      return truthy(a) ? a : eval(*e.kids[1]);
    }
    case ExprType::kCond:
      if (truthy(eval(*e.kids[1]))) return eval(*e.kids[0]);
      if (e.kids[2]) return eval(*e.kids[2]);
      return Value::undefined(
          "the inline if-expression evaluated to false and no else section was defined");
  }
  return Value();
}

Value Interp::eval_call(const Expr& e, const Value* caller) {
  const Expr& callee_expr = *e.kids[0];
  Value fn = eval(callee_expr);
  CallArgs args;
  eval_args(e, 1, &args);
  if (caller) args.kw.emplace_back("caller", *caller);
  return call(fn, args);
}

Value Interp::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) return callee.fn().fn(*this, args);
  if (callee.is_undefined()) fail_undefined(callee);
  fail(fmt::format("'{}' object is not callable", type_name(callee)));
}

Value Interp::apply_filter(std::string_view name, const Value& subject, CallArgs& args) {
  if (!has_filter(name)) fail(fmt::format("no filter named '{}'", name));
  return call_filter(*this, name, subject, args);
}

bool Interp::apply_test(std::string_view name, const Value& subject, CallArgs& args) {
  if (!has_test(name)) fail(fmt::format("no test named '{}'", name));
  return call_test(*this, name, subject, args);
}

Result<std::string> render_template(const Template& tpl, const Value& context,
                                    const RenderLimits& limits) {
  try {
    Interp in(tpl, context, limits);
    return in.render();
  } catch (const JinjaError& e) {
    return Status::errorf("{}:{}: {}", e.line, e.col, e.message);
  } catch (const std::bad_alloc&) {
    return Status::error("out of memory rendering the template");
  }
}

}  // namespace strata::jinja
