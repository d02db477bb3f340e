// jinja2's tests (`x is defined`, `n is divisibleby 3`, ...), the `in` operator and what a for
// loop iterates (see jinja_builtins.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "chat/jinja_builtins.h"

namespace strata::jinja {

namespace {

using TestFn = bool (*)(Interp&, const Value&, CallArgs&);

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kString:
      if (!item.is_string()) {
        fail(fmt::format("'in <string>' requires string as left operand, not {}", type_name(item)));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kList:
    case Kind::kTuple:
      return std::any_of(container.items().begin(), container.items().end(),
                         [&](const Value& x) { return equals(x, item); });
    case Kind::kDict:
      return container.dict_ref().find(item) != nullptr;
    case Kind::kUndefined:
      return false;  // jinja2's Undefined iterates as empty
    default:
      fail(fmt::format("argument of type '{}' is not iterable", type_name(container)));
  }
}

const Value& arg0(const CallArgs& a, const char* test) {
  if (a.pos.empty()) fail(fmt::format("test '{}' needs an argument", test));
  return a.pos[0];
}

int cmp_arg(const Value& v, const CallArgs& a, const char* test) {
  const Value& other = arg0(a, test);
  if (v.is_undefined()) fail(v.str().empty() ? "undefined value" : v.str());
  return compare(v, other);
}

bool all_cased(const Value& v, bool upper) {
  if (!v.is_string()) return false;
  bool any = false;
  for (char c : v.str()) {
    if (std::islower(static_cast<unsigned char>(c))) {
      if (upper) return false;
      any = true;
    } else if (std::isupper(static_cast<unsigned char>(c))) {
      if (!upper) return false;
      any = true;
    }
  }
  return any;
}

// value % 2 with Python's semantics (3.5 % 2 == 1.5, which is neither odd nor even).
double mod2(const Value& v) {
  if (v.is_undefined()) fail(v.str().empty() ? "undefined value" : v.str());
  if (v.is_int() || v.is_bool()) return static_cast<double>(((v.as_int() % 2) + 2) % 2);
  if (v.is_float()) {
    const double m = std::fmod(v.as_float(), 2.0);
    return m < 0 ? m + 2.0 : m;
  }
  fail(fmt::format("unsupported operand type(s) for %: '{}' and 'int'", type_name(v)));
}

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

bool t_eq(Interp&, const Value& v, CallArgs& a) { return equals(v, arg0(a, "eq")); }
bool t_ne(Interp&, const Value& v, CallArgs& a) { return !equals(v, arg0(a, "ne")); }
bool t_lt(Interp&, const Value& v, CallArgs& a) { return cmp_arg(v, a, "lt") < 0; }
bool t_le(Interp&, const Value& v, CallArgs& a) { return cmp_arg(v, a, "le") <= 0; }
bool t_gt(Interp&, const Value& v, CallArgs& a) { return cmp_arg(v, a, "gt") > 0; }
bool t_ge(Interp&, const Value& v, CallArgs& a) { return cmp_arg(v, a, "ge") >= 0; }

const TestEntry kTests[] = {
    {"!=", t_ne},
    {"<", t_lt},
    {"<=", t_le},
    {"==", t_eq},
    {">", t_gt},
    {">=", t_ge},
    {"boolean", [](Interp&, const Value& v, CallArgs&) { return v.is_bool(); }},
    {"callable", [](Interp&, const Value& v, CallArgs&) { return v.is_callable(); }},
    {"defined", [](Interp&, const Value& v, CallArgs&) { return !v.is_undefined(); }},
    {"divisibleby",
     [](Interp&, const Value& v, CallArgs& a) {
       const Value& n = arg0(a, "divisibleby");
       if (!(n.is_int() || n.is_bool()) || n.as_int() == 0)
         fail("divisibleby needs a non-zero integer");
       if (v.is_float()) return std::fmod(v.as_float(), n.as_float()) == 0.0;
       if (!(v.is_int() || v.is_bool()))
         fail(fmt::format("unsupported operand type for %: '{}'", type_name(v)));
       return n.as_int() == -1 || v.as_int() % n.as_int() == 0;
     }},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"escaped", [](Interp&, const Value&, CallArgs&) { return false; }},
    {"even", [](Interp&, const Value& v, CallArgs&) { return mod2(v) == 0.0; }},
    {"false", [](Interp&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }},
    {"filter",
     [](Interp&, const Value& v, CallArgs&) { return v.is_string() && has_filter(v.str()); }},
    {"float", [](Interp&, const Value& v, CallArgs&) { return v.is_float(); }},
    {"ge", t_ge},
    {"greaterthan", t_gt},
    {"gt", t_gt},
    {"in", [](Interp&, const Value& v, CallArgs& a) { return contains(arg0(a, "in"), v); }},
    {"integer", [](Interp&, const Value& v, CallArgs&) { return v.is_int(); }},
    {"iterable",
     [](Interp&, const Value& v, CallArgs&) {
       return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
     }},
    {"le", t_le},
    {"lessthan", t_lt},
    {"lower", [](Interp&, const Value& v, CallArgs&) { return all_cased(v, false); }},
    {"lt", t_lt},
    {"mapping", [](Interp&, const Value& v, CallArgs&) { return v.is_dict(); }},
    {"ne", t_ne},
    {"none", [](Interp&, const Value& v, CallArgs&) { return v.is_none(); }},
    {"number", [](Interp&, const Value& v, CallArgs&) { return v.is_number(); }},
    {"odd", [](Interp&, const Value& v, CallArgs&) { return mod2(v) == 1.0; }},
    {"sameas",
     [](Interp&, const Value& v, CallArgs& a) {
       const Value& o = arg0(a, "sameas");
       if (v.is_none() || v.is_bool() || v.is_undefined())
         return v.kind() == o.kind() && equals(v, o);
       return v.same_object(o);
     }},
    {"sequence",
     [](Interp&, const Value& v, CallArgs&) {
       return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
     }},
    {"string", [](Interp&, const Value& v, CallArgs&) { return v.is_string(); }},
    {"test", [](Interp&, const Value& v, CallArgs&) { return v.is_string() && has_test(v.str()); }},
    {"true", [](Interp&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }},
    {"undefined", [](Interp&, const Value& v, CallArgs&) { return v.is_undefined(); }},
    {"upper", [](Interp&, const Value& v, CallArgs&) { return all_cased(v, true); }},
};

}  // namespace

bool has_test(std::string_view name) {
  for (const TestEntry& e : kTests) {
    if (e.name == name) return true;
  }
  return false;
}

bool call_test(Interp& in, std::string_view name, const Value& subject, CallArgs& args) {
  for (const TestEntry& e : kTests) {
    if (e.name == name) return e.fn(in, subject, args);
  }
  fail(fmt::format("no test named '{}'", name));
}

std::vector<Value> iterate(Interp& in, const Value& v) {
  std::vector<Value> items;
  switch (v.kind()) {
    case Kind::kUndefined:
      break;
    case Kind::kList:
    case Kind::kTuple:
      items = v.items();
      break;
    case Kind::kDict:
      for (const auto& kv : v.dict_ref().items) items.push_back(kv.first);
      break;
    case Kind::kString: {
      const std::vector<size_t> offs = code_point_offsets(v.str());
      for (size_t k = 0; k + 1 < offs.size(); ++k) {
        items.push_back(Value::string(v.str().substr(offs[k], offs[k + 1] - offs[k])));
      }
      break;
    }
    default:
      fail(fmt::format("'{}' object is not iterable", type_name(v)));
  }
  in.charge(items.size() * sizeof(Value));
  return items;
}

}  // namespace strata::jinja
