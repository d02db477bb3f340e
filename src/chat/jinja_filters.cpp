// jinja2's filters and tests, the subset Hugging Face chat templates use (see
// jinja_builtins.h). Filters take the value left of the `|`; `tojson` is transformers' own
// (json.dumps with ensure_ascii=False, no HTML escaping), not jinja2's.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/jinja_builtins.h"

namespace strata::jinja {

namespace {

using FilterFn = Value (*)(Interp&, const Value&, CallArgs&);

Value str_value(Interp& in, std::string s) {
  in.check_string_size(s.size());
  return Value::string(std::move(s));
}

int64_t int_arg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  fail(fmt::format("{} must be an integer, not '{}'", what, type_name(v)));
}

// The attribute path of selectattr/map/sort/unique: "a.b.0" looked up part by part, digit
// parts as list indices (jinja2's make_attrgetter).
Value attribute_of(Interp& in, const Value& item, const Value& path) {
  if (path.is_int()) return in.get_item(item, path);
  const std::string p = to_str(path);
  Value v = item;
  size_t start = 0;
  while (true) {
    const size_t dot = p.find('.', start);
    const std::string part =
        p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    v = digits && part.size() < 18 ? in.get_item(v, Value::integer(std::stoll(part)))
                                   : in.get_item(v, Value::string(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(py_lower(v.str()));
  return v;
}

// Filter and test arguments after the name: select('odd'), selectattr('x', 'eq', 1).
CallArgs rest_args(const CallArgs& a, size_t from) {
  CallArgs r;
  for (size_t i = from; i < a.pos.size(); ++i) r.pos.push_back(a.pos[i]);
  r.kw = a.kw;
  return r;
}

Value select_impl(Interp& in, const Value& v, CallArgs& a, bool by_attr, bool keep) {
  std::vector<Value> out;
  const size_t test_at = by_attr ? 1 : 0;
  const bool has_test = a.pos.size() > test_at;
  CallArgs targs = rest_args(a, test_at + 1);
  for (const Value& item : iterate(in, v)) {
    const Value subject = by_attr ? attribute_of(in, item, a.get(0, "attribute", Value())) : item;
    const bool ok =
        has_test ? in.apply_test(to_str(a.pos[test_at]), subject, targs) : truthy(subject);
    if (ok == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value f_map(Interp& in, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  const Value attr = a.get(99, "attribute", Value());
  if (!attr.is_undefined()) {
    const Value def = a.get(99, "default", Value());
    for (const Value& item : iterate(in, v)) {
      Value x = attribute_of(in, item, attr);
      out.push_back(x.is_undefined() && !def.is_undefined() ? def : x);
    }
    return Value::list(std::move(out));
  }
  if (a.pos.empty()) fail("map requires a filter name or attribute=");
  const std::string name = to_str(a.pos[0]);
  CallArgs fargs = rest_args(a, 1);
  for (const Value& item : iterate(in, v)) {
    CallArgs copy = fargs;
    out.push_back(in.apply_filter(name, item, copy));
  }
  return Value::list(std::move(out));
}

Value f_length(Interp&, const Value& v, CallArgs&) {
  switch (v.kind()) {
    case Kind::kString:
      return Value::integer(static_cast<int64_t>(code_point_count(v.str())));
    case Kind::kList:
    case Kind::kTuple:
      return Value::integer(static_cast<int64_t>(v.items().size()));
    case Kind::kDict:
      return Value::integer(static_cast<int64_t>(v.dict_ref().items.size()));
    case Kind::kUndefined:
      return Value::integer(0);
    default:
      fail(fmt::format("object of type '{}' has no len()", type_name(v)));
  }
}

Value f_first_last(Interp& in, const Value& v, bool first) {
  if (v.is_undefined()) fail(v.str().empty() ? "undefined value" : v.str());
  std::vector<Value> items = iterate(in, v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return first ? items.front() : items.back();
}

Value f_join(Interp& in, const Value& v, CallArgs& a) {
  const std::string sep = to_str(a.get(0, "d", Value::string("")));
  const Value attr = a.get(1, "attribute", Value());
  std::string out;
  bool first = true;
  for (const Value& item : iterate(in, v)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attr.is_undefined() ? item : attribute_of(in, item, attr));
    in.check_string_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_default(Interp&, const Value& v, CallArgs& a) {
  const bool boolean = truthy(a.get(1, "boolean", Value::boolean(false)));
  if (v.is_undefined() || (boolean && !truthy(v)))
    return a.get(0, "default_value", Value::string(""));
  return v;
}

Value f_tojson(Interp& in, const Value& v, CallArgs& a) {
  const Value indent = a.get(1, "indent", Value::none());
  const bool sort_keys = truthy(a.get(3, "sort_keys", Value::boolean(false)));
  int width = -1;
  if (indent.is_int()) width = static_cast<int>(std::clamp<int64_t>(indent.as_int(), 0, 64));
  return str_value(in, to_json(v, width, sort_keys));
}

// Python's int(str): optional sign and surrounding whitespace, '_' between digits.
bool parse_int(std::string s, int base, int64_t* out) {
  s = py_strip(s, Value::none(), true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, base);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

bool parse_float(const std::string& text, double* out) {
  const std::string s = py_strip(text, Value::none(), true, true);
  if (s.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

Value f_int(Interp&, const Value& v, CallArgs& a) {
  const Value def = a.get(0, "default", Value::integer(0));
  const int base = static_cast<int>(int_arg(a.get(1, "base", Value::integer(10)), "base"));
  if (v.is_undefined()) fail(v.str().empty() ? "undefined value" : v.str());
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) >= 9.2e18) return def;
    return Value::integer(static_cast<int64_t>(v.as_float()));
  }
  if (v.is_string()) {
    int64_t i = 0;
    if (base >= 2 && base <= 36 && parse_int(v.str(), base, &i)) return Value::integer(i);
    double f = 0;
    if (parse_float(v.str(), &f) && std::isfinite(f) && std::fabs(f) < 9.2e18) {
      return Value::integer(static_cast<int64_t>(f));
    }
  }
  return def;
}

Value f_float(Interp&, const Value& v, CallArgs& a) {
  if (v.is_undefined()) fail(v.str().empty() ? "undefined value" : v.str());
  if (v.is_number()) return Value::number(v.as_float());
  double f = 0;
  if (v.is_string() && parse_float(v.str(), &f)) return Value::number(f);
  return a.get(0, "default", Value::number(0.0));
}

Value f_items(Interp&, const Value& v, CallArgs&) {
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) fail("can only get item pairs from a mapping");
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict_ref().items) out.push_back(Value::tuple({k, x}));
  return Value::list(std::move(out));
}

Value f_dictsort(Interp& in, const Value& v, CallArgs& a) {
  const bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
  const std::string by = to_str(a.get(1, "by", Value::string("key")));
  const bool rev = truthy(a.get(2, "reverse", Value::boolean(false)));
  if (!v.is_dict()) fail("dictsort needs a mapping");
  if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
  std::vector<Value> items;
  for (const auto& [k, x] : v.dict_ref().items) items.push_back(Value::tuple({k, x}));
  in.charge(items.size() * sizeof(Value));
  const size_t at = by == "key" ? 0 : 1;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const int c = compare(sort_key(x.items()[at], cs), sort_key(y.items()[at], cs));
    return rev ? c > 0 : c < 0;
  });
  return Value::list(std::move(items));
}

Value f_unique(Interp& in, const Value& v, CallArgs& a) {
  const bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
  const Value attr = a.get(1, "attribute", Value());
  std::vector<Value> out, seen;
  for (const Value& item : iterate(in, v)) {
    const Value key = sort_key(attr.is_undefined() ? item : attribute_of(in, item, attr), cs);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      in.step();  // quadratic: count the comparisons' rows against the step budget
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value f_reverse(Interp& in, const Value& v, CallArgs&) {
  if (v.is_string()) {
    const std::vector<size_t> offs = code_point_offsets(v.str());
    std::string out;
    out.reserve(v.str().size());
    for (size_t k = offs.size() - 1; k-- > 0;) out.append(v.str(), offs[k], offs[k + 1] - offs[k]);
    return str_value(in, std::move(out));
  }
  std::vector<Value> items = iterate(in, v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_sort(Interp& in, const Value& v, CallArgs& a) {
  const bool rev = truthy(a.get(0, "reverse", Value::boolean(false)));
  const bool cs = truthy(a.get(1, "case_sensitive", Value::boolean(false)));
  const Value attr = a.get(2, "attribute", Value());
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : iterate(in, v)) {
    keyed.emplace_back(sort_key(attr.is_undefined() ? item : attribute_of(in, item, attr), cs),
                       item);
  }
  // Python's sort is stable, and reverse=True keeps equal items in their original order.
  std::stable_sort(keyed.begin(), keyed.end(), [rev](const auto& x, const auto& y) {
    return rev ? compare(y.first, x.first) < 0 : compare(x.first, y.first) < 0;
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::list(std::move(out));
}

Value f_replace(Interp& in, const Value& v, CallArgs& a) {
  const Value count = a.get(2, "count", Value::none());
  return Value::string(py_replace(in, to_str(v), to_str(a.get(0, "old", Value::string(""))),
                                  to_str(a.get(1, "new", Value::string(""))),
                                  count.is_none() ? -1 : int_arg(count, "count")));
}

Value f_escape(Interp& in, const Value& v, CallArgs&) {
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return str_value(in, std::move(out));
}

// Python's str.splitlines() for the line breaks chat text holds.
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    const char c = s[i];
    size_t brk = 0;
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      brk = 2;
    } else if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= '\x1c' && c <= '\x1e')) {
      brk = 1;
    } else if (s.compare(i, 2, "\xc2\x85") == 0) {
      brk = 2;
    } else if (s.compare(i, 3, "\xe2\x80\xa8") == 0 || s.compare(i, 3, "\xe2\x80\xa9") == 0) {
      brk = 3;
    }
    if (brk) {
      lines.push_back(s.substr(start, i - start));
      i += brk;
      start = i;
    } else {
      ++i;
    }
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  return lines;
}

Value f_indent(Interp& in, const Value& v, CallArgs& a) {
  const Value width = a.get(0, "width", Value::integer(4));
  const bool first = truthy(a.get(1, "first", Value::boolean(false)));
  const bool blank = truthy(a.get(2, "blank", Value::boolean(false)));
  const std::string pad =
      width.is_string() ? width.str()
                        : std::string(std::clamp<int64_t>(int_arg(width, "width"), 0, 256), ' ');
  const std::vector<std::string> lines = split_lines(to_str(v) + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "\n";
    if (i > 0 && (blank || !lines[i].empty())) out += pad;
    out += lines[i];
    in.check_string_size(out.size());
  }
  if (first) out = pad + out;
  return str_value(in, std::move(out));
}

Value f_wordcount(Interp&, const Value& v, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : to_str(v)) {
    const bool w = std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                   static_cast<unsigned char>(c) >= 0x80;
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_round(Interp&, const Value& v, CallArgs& a) {
  const int64_t precision = int_arg(a.get(0, "precision", Value::integer(0)), "precision");
  const std::string method = to_str(a.get(1, "method", Value::string("common")));
  if (!v.is_number()) fail(fmt::format("type {} doesn't define __round__", type_name(v)));
  const int p = static_cast<int>(std::clamp<int64_t>(precision, -300, 300));
  if (method == "common") {
    if (!v.is_float()) return Value::integer(v.as_int());  // round(int, n) stays an int
    if (!std::isfinite(v.as_float()) || p > 20) return v;
    if (p < 0)
      return Value::number(std::nearbyint(v.as_float() / std::pow(10.0, -p)) * std::pow(10.0, -p));
    // printf rounds the exact binary value half-to-even, as Python's round() does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", p, v.as_float());
    return Value::number(std::strtod(buf, nullptr));
  }
  if (method != "ceil" && method != "floor") fail("method must be 'common', 'ceil' or 'floor'");
  const double scale = std::pow(10.0, p);
  const double x = v.as_float() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_sum(Interp& in, const Value& v, CallArgs& a) {
  const Value attr = a.get(0, "attribute", Value());
  Value total = a.get(1, "start", Value::integer(0));
  for (const Value& item : iterate(in, v)) {
    const Value x = attr.is_undefined() ? item : attribute_of(in, item, attr);
    if (!x.is_number() || !total.is_number()) fail("sum needs numbers");
    if (x.is_float() || total.is_float()) {
      total = Value::number(total.as_float() + x.as_float());
    } else {
      int64_t r = 0;
      if (__builtin_add_overflow(total.as_int(), x.as_int(), &r)) fail("integer overflow");
      total = Value::integer(r);
    }
  }
  return total;
}

Value f_min_max(Interp& in, const Value& v, CallArgs& a, bool want_max) {
  const bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
  const Value attr = a.get(1, "attribute", Value());
  Value best, best_key;
  for (const Value& item : iterate(in, v)) {
    const Value key = sort_key(attr.is_undefined() ? item : attribute_of(in, item, attr), cs);
    if (best.is_undefined() ||
        (want_max ? compare(key, best_key) > 0 : compare(key, best_key) < 0)) {
      best = item;
      best_key = key;
    }
  }
  return best.is_undefined() ? Value::undefined("No aggregated item, sequence was empty.") : best;
}

// Jinja's title filter: each word (split at whitespace, '-', and opening brackets) gets its
// first character upper-cased and the rest lower-cased; not Python's str.title().
Value f_title(Interp& in, const Value& v, CallArgs&) {
  const std::string s = to_str(v);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const bool sep = s[i] == '-' || s[i] == '(' || s[i] == '{' || s[i] == '[' || s[i] == '<' ||
                     std::isspace(static_cast<unsigned char>(s[i]));
    size_t j = i;
    while (j < s.size() && (s[j] == '-' || s[j] == '(' || s[j] == '{' || s[j] == '[' ||
                            s[j] == '<' || std::isspace(static_cast<unsigned char>(s[j]))) == sep) {
      ++j;
    }
    out += sep ? s.substr(i, j - i) : py_capitalize(std::string_view(s).substr(i, j - i));
    i = j;
  }
  return str_value(in, std::move(out));
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

const FilterEntry kFilters[] = {
    {"abs",
     [](Interp&, const Value& v, CallArgs&) {
       if (v.is_float()) return Value::number(std::fabs(v.as_float()));
       if (!v.is_int() && !v.is_bool())
         fail(fmt::format("bad operand type for abs(): '{}'", type_name(v)));
       if (v.as_int() == INT64_MIN) fail("integer overflow");
       return Value::integer(std::llabs(v.as_int()));
     }},
    {"capitalize",
     [](Interp& in, const Value& v, CallArgs&) { return str_value(in, py_capitalize(to_str(v))); }},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"first", [](Interp& in, const Value& v, CallArgs&) { return f_first_last(in, v, true); }},
    {"float", f_float},
    {"format",
     [](Interp& in, const Value& v, CallArgs& a) {
       if (!a.kw.empty()) fail("format with keyword arguments is not supported");
       return Value::string(py_percent_format(in, to_str(v), a.pos));
     }},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", [](Interp& in, const Value& v, CallArgs&) { return f_first_last(in, v, false); }},
    {"length", f_length},
    {"list", [](Interp& in, const Value& v, CallArgs&) { return Value::list(iterate(in, v)); }},
    {"lower",
     [](Interp& in, const Value& v, CallArgs&) { return str_value(in, py_lower(to_str(v))); }},
    {"map", f_map},
    {"max", [](Interp& in, const Value& v, CallArgs& a) { return f_min_max(in, v, a, true); }},
    {"min", [](Interp& in, const Value& v, CallArgs& a) { return f_min_max(in, v, a, false); }},
    {"reject",
     [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }},
    {"rejectattr",
     [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); }},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", [](Interp&, const Value& v, CallArgs&) { return Value::string(to_str(v)); }},
    {"select",
     [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }},
    {"selectattr",
     [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }},
    {"sort", f_sort},
    {"string", [](Interp&, const Value& v, CallArgs&) { return Value::string(to_str(v)); }},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim",
     [](Interp&, const Value& v, CallArgs& a) {
       return Value::string(py_strip(to_str(v), a.get(0, "chars", Value::none()), true, true));
     }},
    {"unique", f_unique},
    {"upper",
     [](Interp& in, const Value& v, CallArgs&) { return str_value(in, py_upper(to_str(v))); }},
    {"wordcount", f_wordcount},
};

template <typename Entry, size_t N>
const Entry* find_entry(const Entry (&table)[N], std::string_view name) {
  for (const Entry& e : table) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace

bool has_filter(std::string_view name) { return find_entry(kFilters, name) != nullptr; }

Value call_filter(Interp& in, std::string_view name, const Value& subject, CallArgs& args) {
  const FilterEntry* e = find_entry(kFilters, name);
  if (e == nullptr) fail(fmt::format("no filter named '{}'", name));
  return e->fn(in, subject, args);
}

}  // namespace strata::jinja
