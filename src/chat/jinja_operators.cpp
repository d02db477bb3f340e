// Operators and subscripts with Python's semantics (see jinja_eval.h): arithmetic with
// Python's floor division and modulo, overflow as an error (Python would grow the int),
// sequence repetition bounded by the render's limits, indexing and slicing by code point.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>

#include "chat/jinja_builtins.h"
#include "chat/jinja_eval.h"

namespace strata::jinja {

namespace {

[[noreturn]] void fail_undefined(const Value& v) {
  fail(v.str().empty() ? std::string("undefined value") : v.str());
}

int64_t add_int(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) fail("integer overflow");
  return r;
}
int64_t sub_int(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) fail("integer overflow");
  return r;
}
int64_t mul_int(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) fail("integer overflow");
  return r;
}

// Python's floor division and modulo (the result takes the divisor's sign).
int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  if (a == std::numeric_limits<int64_t>::min() && b == -1) fail("integer overflow");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t floor_mod(int64_t a, int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Value int_pow(int64_t base, int64_t exp) {
  if (exp < 0) return Value::number(std::pow(static_cast<double>(base), static_cast<double>(exp)));
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = mul_int(result, base);
    exp >>= 1;
    if (exp > 0) base = mul_int(base, base);
  }
  return Value::integer(result);
}

[[noreturn]] void bad_operands(std::string_view op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  fail(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(a),
                   type_name(b)));
}

}  // namespace

Value index_sequence(const Value& v, int64_t i) {
  if (v.is_string()) {
    const std::vector<size_t> offs = code_point_offsets(v.str());
    const int64_t n = static_cast<int64_t>(offs.size()) - 1;
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("string index out of range");
    return Value::string(v.str().substr(offs[i], offs[i + 1] - offs[i]));
  }
  const int64_t n = static_cast<int64_t>(v.items().size());
  if (i < 0) i += n;
  if (i < 0 || i >= n) return Value::undefined(fmt::format("{} index out of range", type_name(v)));
  return v.items()[i];
}

Value slice_sequence(Interp& in, const Value& v, const Value& start_v, const Value& stop_v,
                     const Value& step_v) {
  if (v.is_undefined()) fail(v.str().empty() ? "undefined value" : v.str());
  if (!v.is_string() && !v.is_sequence()) {
    return Value::undefined(fmt::format("'{}' object is not subscriptable", type_name(v)));
  }
  std::vector<size_t> offs;
  int64_t n = 0;
  if (v.is_string()) {
    offs = code_point_offsets(v.str());
    n = static_cast<int64_t>(offs.size()) - 1;
  } else {
    n = static_cast<int64_t>(v.items().size());
  }
  auto opt = [](const Value& x, const char* what) -> std::optional<int64_t> {
    if (x.is_none()) return std::nullopt;
    if (!x.is_int() && !x.is_bool()) {
      fail(fmt::format("{} must be an integer or None, not '{}'", what, type_name(x)));
    }
    return x.as_int();
  };
  const std::optional<int64_t> start_arg = opt(start_v, "slice index");
  const std::optional<int64_t> stop_arg = opt(stop_v, "slice index");
  const int64_t step = opt(step_v, "slice step").value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> x, int64_t fallback) {
    if (!x) return fallback;
    int64_t i = *x;
    if (i < 0) {
      i += n;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t start = adjust(start_arg, step < 0 ? n - 1 : 0);
  const int64_t stop = adjust(stop_arg, step < 0 ? -1 : n);
  std::vector<int64_t> picks;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) picks.push_back(i);
  in.charge(picks.size() * sizeof(Value));
  if (v.is_string()) {
    std::string out;
    for (int64_t i : picks) out.append(v.str(), offs[i], offs[i + 1] - offs[i]);
    return Value::string(std::move(out));
  }
  std::vector<Value> out;
  for (int64_t i : picks) out.push_back(v.items()[i]);
  return v.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

Value Interp::get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::kUndefined:
      fail_undefined(obj);
    case Kind::kNamespace:
      if (const Value* v = obj.dict_ref().find(std::string_view(name))) return *v;
      break;
    case Kind::kDict: {
      // jinja2 tries Python attributes first: d.items is the method even with an "items" key.
      Value m = bound_method(obj, name);
      if (!m.is_undefined()) return m;
      if (const Value* v = obj.dict_ref().find(std::string_view(name))) return *v;
      break;
    }
    case Kind::kString:
    case Kind::kList:
    case Kind::kTuple: {
      Value m = bound_method(obj, name);
      if (!m.is_undefined()) return m;
      break;
    }
    default:
      break;
  }
  return Value::undefined(fmt::format("'{} object' has no attribute '{}'", type_name(obj), name));
}

Value Interp::get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::kUndefined:
      fail_undefined(obj);
    case Kind::kDict:
    case Kind::kNamespace:
      if (const Value* v = obj.dict_ref().find(key)) return *v;
      if (key.is_string() && obj.is_dict()) return get_attr(obj, key.str());
      break;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kString:
      if (key.is_int() || key.is_bool()) return index_sequence(obj, key.as_int());
      if (key.is_string()) return get_attr(obj, key.str());
      break;
    default:
      break;
  }
  return Value::undefined(
      fmt::format("'{} object' has no attribute '{}'", type_name(obj), to_str(key)));
}

Value Interp::eval_binary(const Expr& e) {
  const Value a = eval(*e.kids[0]);
  const Value b = eval(*e.kids[1]);
  const std::string& op = e.name;
  if (op == "~") {
    std::string sa = to_str(a), sb = to_str(b);
    check_string_size(sa.size() + sb.size());
    return Value::string(sa + sb);
  }
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) return Value::integer(add_int(a.as_int(), b.as_int()));
    if (nums) return Value::number(a.as_float() + b.as_float());
    if (a.is_string() && b.is_string()) {
      check_string_size(a.str().size() + b.str().size());
      return Value::string(a.str() + b.str());
    }
    if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
      charge((a.items().size() + b.items().size()) * sizeof(Value));
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return a.is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    bad_operands(op, a, b);
  }
  if (op == "-") {
    if (ints) return Value::integer(sub_int(a.as_int(), b.as_int()));
    if (nums) return Value::number(a.as_float() - b.as_float());
    bad_operands(op, a, b);
  }
  if (op == "*") {
    if (ints) return Value::integer(mul_int(a.as_int(), b.as_int()));
    if (nums) return Value::number(a.as_float() * b.as_float());
    const Value* seq = (a.is_string() || a.is_sequence()) ? &a : &b;
    const Value* count = seq == &a ? &b : &a;
    if ((seq->is_string() || seq->is_sequence()) && (count->is_int() || count->is_bool())) {
      const int64_t times = std::max<int64_t>(0, count->as_int());
      if (seq->is_string()) {
        const uint64_t unit = seq->str().size();
        if (unit != 0 && static_cast<uint64_t>(times) > limits_.max_output_bytes / unit + 1) {
          check_string_size(limits_.max_output_bytes + 1);
        }
        check_string_size(unit * times);
        std::string s;
        s.reserve(unit * times);
        for (int64_t i = 0; i < times; ++i) s += seq->str();
        return Value::string(std::move(s));
      }
      const uint64_t unit = seq->items().size();
      if (unit != 0 && static_cast<uint64_t>(times) > limits_.max_work_bytes / unit) {
        charge(limits_.max_work_bytes + 1);
      }
      charge(unit * times * sizeof(Value));
      std::vector<Value> items;
      for (int64_t i = 0; i < times; ++i) {
        items.insert(items.end(), seq->items().begin(), seq->items().end());
      }
      return seq->is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    bad_operands(op, a, b);
  }
  if (!nums) bad_operands(op, a, b);
  if (op == "/") {
    if (b.as_float() == 0.0) fail("division by zero");
    return Value::number(a.as_float() / b.as_float());
  }
  if (op == "//") {
    if (ints) return Value::integer(floor_div(a.as_int(), b.as_int()));
    if (b.as_float() == 0.0) fail("float floor division by zero");
    return Value::number(std::floor(a.as_float() / b.as_float()));
  }
  if (op == "%") {
    if (ints) return Value::integer(floor_mod(a.as_int(), b.as_int()));
    if (b.as_float() == 0.0) fail("float modulo");
    const double m = std::fmod(a.as_float(), b.as_float());
    return Value::number(m != 0 && ((m < 0) != (b.as_float() < 0)) ? m + b.as_float() : m);
  }
  if (op == "**") {
    if (ints) return int_pow(a.as_int(), b.as_int());
    return Value::number(std::pow(a.as_float(), b.as_float()));
  }
  fail(fmt::format("unknown operator '{}'", op));
}

Value Interp::eval_compare(const Expr& e) {
  Value left = eval(*e.kids[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.kids[i + 1]);
    const std::string& op = e.ops[i];
    bool ok = false;
    if (op == "==") {
      ok = equals(left, right);
    } else if (op == "!=") {
      ok = !equals(left, right);
    } else if (op == "in" || op == "not in") {
      CallArgs a;
      a.pos.push_back(right);
      ok = call_test(*this, "in", left, a) == (op == "in");
    } else {
      if (left.is_undefined()) fail_undefined(left);
      if (right.is_undefined()) fail_undefined(right);
      const int c = compare(left, right);
      ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
    }
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

}  // namespace strata::jinja
