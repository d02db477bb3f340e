// Python methods chat templates call (content.strip(), message.get('x'), d.items(), ...),
// the globals range/namespace/dict, and the str helpers filters share (see jinja_builtins.h).
#include <fmt/format.h>
#include <fmt/printf.h>

#include <algorithm>
#include <string>

#include "chat/jinja_builtins.h"

namespace strata::jinja {

namespace {

// jinja2's sandbox refuses ranges longer than this (MAX_RANGE); so do we.
constexpr int64_t kMaxRange = 100000;

// Python's str.isspace() for a code point.
bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint32_t decode_at(std::string_view s, size_t begin, size_t end) {
  const auto c = static_cast<unsigned char>(s[begin]);
  if (end - begin == 1) return c;
  uint32_t cp = end - begin == 2 ? (c & 0x1F) : end - begin == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t i = begin + 1; i < end; ++i) cp = (cp << 6) | (s[i] & 0x3F);
  return cp;
}

std::string str_arg(const Value& v, const char* method) {
  if (!v.is_string()) fail(fmt::format("{}() argument must be str, not {}", method, type_name(v)));
  return v.str();
}

int64_t int_arg(const Value& v, const char* method) {
  if (!v.is_int() && !v.is_bool()) {
    fail(fmt::format("{}() argument must be an integer, not {}", method, type_name(v)));
  }
  return v.as_int();
}

int64_t code_points_before(std::string_view s, size_t byte_pos) {
  return static_cast<int64_t>(code_point_count(s.substr(0, byte_pos)));
}

bool affix_match(const std::string& s, const Value& arg, bool prefix, const char* method) {
  auto one = [&](const Value& a) {
    const std::string x = str_arg(a, method);
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (arg.is_tuple()) return std::any_of(arg.items().begin(), arg.items().end(), one);
  return one(arg);
}

bool all_chars(const std::string& s, int (*pred)(int)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [pred](char c) {
    return pred(static_cast<unsigned char>(c)) != 0;
  });
}

Value string_method(Interp& in, const std::string& s, std::string_view name, CallArgs& a) {
  const Value none = Value::none();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    return Value::string(py_strip(s, a.get(0, "chars", none), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    const Value sep = a.get(0, "sep", none);
    const int64_t maxsplit = int_arg(a.get(1, "maxsplit", Value::integer(-1)), "split");
    std::vector<std::string> parts;
    if (name == "rsplit" && maxsplit >= 0) {
      // rsplit with a limit splits from the right: reverse, split, reverse back (exact for
      // single-byte separators and whitespace, which is what templates use).
      std::string rs(s.rbegin(), s.rend());
      Value rsep =
          sep.is_string() ? Value::string(std::string(sep.str().rbegin(), sep.str().rend())) : sep;
      parts = py_split(rs, rsep, maxsplit);
      for (auto& p : parts) std::reverse(p.begin(), p.end());
      std::reverse(parts.begin(), parts.end());
    } else {
      parts = py_split(s, sep, maxsplit);
    }
    std::vector<Value> out;
    for (auto& p : parts) out.push_back(Value::string(std::move(p)));
    in.charge(out.size() * sizeof(Value));
    return Value::list(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    if (a.pos.empty()) fail(fmt::format("{}() takes at least 1 argument", name));
    return Value::boolean(affix_match(s, a.pos[0], name == "startswith", "startswith"));
  }
  if (name == "upper") return Value::string(py_upper(s));
  if (name == "lower") return Value::string(py_lower(s));
  if (name == "title") return Value::string(py_title(s));
  if (name == "capitalize") return Value::string(py_capitalize(s));
  if (name == "replace") {
    if (a.pos.size() < 2) fail("replace() takes at least 2 arguments");
    const int64_t count = int_arg(a.get(2, "count", Value::integer(-1)), "replace");
    return Value::string(
        py_replace(in, s, str_arg(a.pos[0], "replace"), str_arg(a.pos[1], "replace"), count));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    if (a.pos.empty()) fail(fmt::format("{}() takes at least 1 argument", name));
    const std::string sub = str_arg(a.pos[0], "find");
    const size_t at = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) {
      if (name == "index" || name == "rindex") fail("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(code_points_before(s, at));
  }
  if (name == "count") {
    if (a.pos.empty()) fail("count() takes at least 1 argument");
    const std::string sub = str_arg(a.pos[0], "count");
    if (sub.empty()) return Value::integer(static_cast<int64_t>(code_point_count(s)) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::integer(n);
  }
  if (name == "join") {
    if (a.pos.empty()) fail("join() takes exactly one argument");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(in, a.pos[0])) {
      if (!first) out += s;
      first = false;
      out += str_arg(item, "join");
      in.check_string_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "isdigit") return Value::boolean(all_chars(s, ::isdigit));
  if (name == "isalpha") return Value::boolean(all_chars(s, ::isalpha));
  if (name == "isalnum") return Value::boolean(all_chars(s, ::isalnum));
  if (name == "isspace") return Value::boolean(all_chars(s, ::isspace));
  if (name == "islower") return Value::boolean(s != py_upper(s) && s == py_lower(s));
  if (name == "isupper") return Value::boolean(s != py_lower(s) && s == py_upper(s));
  if (name == "splitlines") {
    std::vector<Value> out;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        out.push_back(Value::string(s.substr(start, i - start)));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
      }
    }
    if (start < s.size()) out.push_back(Value::string(s.substr(start)));
    return Value::list(std::move(out));
  }
  fail(fmt::format("'str' object has no attribute '{}'", name));
}

Value dict_method(const Value& self, std::string_view name, CallArgs& a) {
  const Dict& d = self.dict_ref();
  if (name == "items" || name == "keys" || name == "values") {
    std::vector<Value> out;
    for (const auto& [k, v] : d.items) {
      out.push_back(name == "items" ? Value::tuple({k, v}) : name == "keys" ? k : v);
    }
    return Value::list(std::move(out));
  }
  if (name == "get") {
    if (a.pos.empty()) fail("get expected at least 1 argument");
    const Value* v = d.find(a.pos[0]);
    return v ? *v : a.get(1, "default", Value::none());
  }
  fail(fmt::format("'dict' object has no attribute '{}'", name));
}

// list.append and list.pop mutate: jinja2's ImmutableSandboxedEnvironment (what transformers
// uses) refuses them, llama.cpp's and vLLM's engines allow them. Allowing them only makes
// more templates render.
Value list_method(Interp& in, const Value& self, std::string_view name, CallArgs& a) {
  std::vector<Value>& items = self.items();
  if (name == "append" && self.is_list()) {
    if (a.pos.size() != 1) fail("append() takes exactly one argument");
    in.charge(sizeof(Value));
    items.push_back(a.pos[0]);
    return Value::none();
  }
  if (name == "pop" && self.is_list()) {
    if (items.empty()) fail("pop from empty list");
    int64_t i = a.pos.empty() ? -1 : int_arg(a.pos[0], "pop");
    const int64_t n = static_cast<int64_t>(items.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) fail("pop index out of range");
    Value v = items[i];
    items.erase(items.begin() + i);
    return v;
  }
  if (name == "index" || name == "count") {
    if (a.pos.empty()) fail(fmt::format("{}() takes exactly one argument", name));
    int64_t n = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!equals(items[i], a.pos[0])) continue;
      if (name == "index") return Value::integer(static_cast<int64_t>(i));
      ++n;
    }
    if (name == "index") fail(fmt::format("{} is not in list", repr(a.pos[0])));
    return Value::integer(n);
  }
  fail(fmt::format("'{}' object has no attribute '{}'", type_name(self), name));
}

bool is_method(Kind kind, std::string_view name) {
  static constexpr std::string_view kStr[] = {
      "strip",   "lstrip",  "rstrip",  "split",      "rsplit",  "startswith", "endswith",
      "upper",   "lower",   "title",   "capitalize", "replace", "find",       "rfind",
      "index",   "rindex",  "count",   "join",       "isdigit", "isalpha",    "isalnum",
      "isspace", "islower", "isupper", "splitlines"};
  static constexpr std::string_view kDict[] = {"items", "keys", "values", "get"};
  static constexpr std::string_view kList[] = {"append", "pop", "index", "count"};
  auto in = [name](const auto& table) {
    return std::find(std::begin(table), std::end(table), name) != std::end(table);
  };
  switch (kind) {
    case Kind::kString:
      return in(kStr);
    case Kind::kDict:
      return in(kDict);
    case Kind::kList:
      return in(kList);
    case Kind::kTuple:
      return name == "index" || name == "count";
    default:
      return false;
  }
}

Value make_range(Interp& in, CallArgs& a) {
  if (a.pos.empty() || a.pos.size() > 3) fail("range expected 1 to 3 arguments");
  int64_t start = 0, stop = 0, step = 1;
  if (a.pos.size() == 1) {
    stop = int_arg(a.pos[0], "range");
  } else {
    start = int_arg(a.pos[0], "range");
    stop = int_arg(a.pos[1], "range");
    if (a.pos.size() == 3) step = int_arg(a.pos[2], "range");
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  const __int128 span =
      step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 mag = step > 0 ? step : -static_cast<__int128>(step);
  const __int128 count = span <= 0 ? 0 : (span + mag - 1) / mag;
  if (count > kMaxRange) fail(fmt::format("range too big: the sandbox allows {} items", kMaxRange));
  in.charge(static_cast<uint64_t>(count) * sizeof(Value));
  std::vector<Value> out;
  for (__int128 i = 0; i < count; ++i)
    out.push_back(Value::integer(static_cast<int64_t>(start + i * step)));
  return Value::list(std::move(out));
}

// namespace(...) and dict(...): a mapping argument and/or keyword arguments.
Value make_mapping(CallArgs& a, Value result) {
  if (a.pos.size() > 1) fail("expected at most 1 positional argument");
  if (!a.pos.empty()) {
    if (!a.pos[0].is_dict()) fail("expected a mapping");
    for (const auto& [k, v] : a.pos[0].dict_ref().items) result.dict_ref().set(k, v);
  }
  for (const auto& [k, v] : a.kw) result.dict_ref().set(Value::string(k), v);
  return result;
}

}  // namespace

Value bound_method(const Value& self, std::string_view name) {
  if (!is_method(self.kind(), name)) return Value();
  const std::string method(name);
  return Value::callable(method, [self, method](Interp& in, CallArgs& a) {
    switch (self.kind()) {
      case Kind::kString:
        return string_method(in, self.str(), method, a);
      case Kind::kDict:
        return dict_method(self, method, a);
      default:
        return list_method(in, self, method, a);
    }
  });
}

Value builtin_global(std::string_view name) {
  if (name == "range")
    return Value::callable("range", [](Interp& in, CallArgs& a) { return make_range(in, a); });
  if (name == "namespace") {
    return Value::callable("namespace", [](Interp&, CallArgs& a) {
      return make_mapping(a, Value::namespace_object());
    });
  }
  if (name == "dict") {
    return Value::callable("dict",
                           [](Interp&, CallArgs& a) { return make_mapping(a, Value::dict()); });
  }
  return Value();
}

std::string py_strip(std::string_view s, const Value& chars, bool left, bool right) {
  const bool whitespace = chars.is_none() || chars.is_undefined();
  if (!whitespace && !chars.is_string()) fail("strip arg must be None or str");
  const std::vector<size_t> offs = code_point_offsets(s);
  std::vector<uint32_t> set;
  if (!whitespace) {
    const std::vector<size_t> c = code_point_offsets(chars.str());
    for (size_t k = 0; k + 1 < c.size(); ++k) set.push_back(decode_at(chars.str(), c[k], c[k + 1]));
  }
  auto strip_it = [&](size_t k) {
    const uint32_t cp = decode_at(s, offs[k], offs[k + 1]);
    return whitespace ? is_py_space(cp) : std::find(set.begin(), set.end(), cp) != set.end();
  };
  size_t b = 0, e = offs.size() - 1;
  if (left) {
    while (b < e && strip_it(b)) ++b;
  }
  if (right) {
    while (e > b && strip_it(e - 1)) --e;
  }
  return std::string(s.substr(offs[b], offs[e] - offs[b]));
}

std::vector<std::string> py_split(std::string_view s, const Value& sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep.is_none() || sep.is_undefined()) {
    const std::vector<size_t> offs = code_point_offsets(s);
    const size_t n = offs.size() - 1;
    auto space = [&](size_t k) { return is_py_space(decode_at(s, offs[k], offs[k + 1])); };
    size_t k = 0;
    while (true) {
      while (k < n && space(k)) ++k;
      if (k >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = n;
        while (e > k && space(e - 1)) --e;
        parts.emplace_back(s.substr(offs[k], offs[e] - offs[k]));
        break;
      }
      const size_t start = k;
      while (k < n && !space(k)) ++k;
      parts.emplace_back(s.substr(offs[start], offs[k] - offs[start]));
    }
    return parts;
  }
  if (!sep.is_string()) fail(fmt::format("must be str or None, not {}", type_name(sep)));
  const std::string& d = sep.str();
  if (d.empty()) fail("empty separator");
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    const size_t at = s.find(d, start);
    if (at == std::string_view::npos) break;
    parts.emplace_back(s.substr(start, at - start));
    start = at + d.size();
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

std::string py_replace(Interp& in, std::string_view s, std::string_view old, std::string_view repl,
                       int64_t count) {
  std::string out;
  int64_t done = 0;
  if (old.empty()) {  // Python inserts `repl` before every code point and at the end
    const std::vector<size_t> offs = code_point_offsets(s);
    in.check_string_size(s.size() + repl.size() * offs.size());
    for (size_t k = 0; k + 1 < offs.size(); ++k) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      out.append(s.substr(offs[k], offs[k + 1] - offs[k]));
    }
    if (count < 0 || done < count) out += repl;
    return out;
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old, start);
    if (at == std::string_view::npos) break;
    out.append(s.substr(start, at - start));
    out.append(repl);
    start = at + old.size();
    ++done;
    in.check_string_size(out.size());
  }
  out.append(s.substr(start));
  in.check_string_size(out.size());
  return out;
}

std::string py_percent_format(Interp& in, std::string_view f, const std::vector<Value>& args) {
  std::string out;
  size_t next_arg = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    size_t j = i + 1;
    while (j < f.size() && std::string_view("-+ 0#").find(f[j]) != std::string_view::npos) ++j;
    while (j < f.size() && (std::isdigit(static_cast<unsigned char>(f[j])) || f[j] == '.')) ++j;
    if (j >= f.size()) fail("incomplete format");
    const char conv = f[j];
    const std::string spec(f.substr(i, j - i));
    i = j;
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next_arg >= args.size()) fail("not enough arguments for format string");
    const Value& v = args[next_arg++];
    if (spec.size() > 16) fail("format specifier too long");
    if (conv == 's' || conv == 'r') {
      const std::string text = conv == 's' ? to_str(v) : repr(v);
      out += spec.size() == 1 ? text : fmt::sprintf(spec + "s", text);
    } else if (conv == 'd' || conv == 'i' || conv == 'x' || conv == 'X' || conv == 'o') {
      if (!v.is_number())
        fail(fmt::format("%{} format: a real number is required, not {}", conv, type_name(v)));
      const int64_t n = v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int();
      out += fmt::sprintf(spec + "ll" + (conv == 'i' ? 'd' : conv), static_cast<long long>(n));
    } else if (conv == 'f' || conv == 'F' || conv == 'e' || conv == 'E' || conv == 'g' ||
               conv == 'G') {
      if (!v.is_number()) fail(fmt::format("must be real number, not {}", type_name(v)));
      out += fmt::sprintf(spec + conv, v.as_float());
    } else {
      fail(fmt::format("unsupported format character '{}'", conv));
    }
    in.check_string_size(out.size());
  }
  if (next_arg < args.size()) fail("not all arguments converted during string formatting");
  return out;
}

namespace {

// Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic: the
// letters of European chat text. Other code points (and Python's one-to-many mappings such as
// "ß" -> "SS") are left as they are.
uint32_t upper_cp(uint32_t c) {
  if (c < 0x80) return static_cast<uint32_t>(std::toupper(static_cast<int>(c)));
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if (((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) &&
      (c & 1)) {
    return c - 1;
  }
  if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && !(c & 1)) return c - 1;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 0x20;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

uint32_t lower_cp(uint32_t c) {
  if (c < 0x80) return static_cast<uint32_t>(std::tolower(static_cast<int>(c)));
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c == 0x178) return 0xFF;
  if (((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) &&
      !(c & 1)) {
    return c + 1;
  }
  if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && (c & 1)) return c + 1;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

bool cased_cp(uint32_t c) { return upper_cp(c) != c || lower_cp(c) != c; }

void append_cp(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));  // the mapped ranges are all below U+10000
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Rewrites each mapped code point of `s`; `pick(index, cp, previous_cased)` gives the new one.
template <typename Pick>
std::string map_code_points(std::string_view s, Pick pick) {
  std::string out;
  out.reserve(s.size());
  const std::vector<size_t> offs = code_point_offsets(s);
  bool prev_cased = false;
  for (size_t k = 0; k + 1 < offs.size(); ++k) {
    const size_t n = offs[k + 1] - offs[k];
    const uint32_t cp = decode_at(s, offs[k], offs[k + 1]);
    const bool valid = n == 1 ? cp < 0x80 : (n <= 3);  // 4-byte code points are never mapped
    if (!valid) {
      out.append(s.substr(offs[k], n));
      prev_cased = false;
      continue;
    }
    const uint32_t mapped = pick(k, cp, prev_cased);
    if (mapped == cp) {
      out.append(s.substr(offs[k], n));
    } else {
      append_cp(out, mapped);
    }
    prev_cased = cased_cp(cp);
  }
  return out;
}

}  // namespace

std::string py_upper(std::string_view s) {
  return map_code_points(s, [](size_t, uint32_t c, bool) { return upper_cp(c); });
}

std::string py_lower(std::string_view s) {
  return map_code_points(s, [](size_t, uint32_t c, bool) { return lower_cp(c); });
}

std::string py_capitalize(std::string_view s) {
  return map_code_points(
      s, [](size_t k, uint32_t c, bool) { return k == 0 ? upper_cp(c) : lower_cp(c); });
}

// str.title(): a cased letter after an uncased character is upper-cased, others lower-cased.
std::string py_title(std::string_view s) {
  return map_code_points(
      s, [](size_t, uint32_t c, bool prev) { return prev ? lower_cp(c) : upper_cp(c); });
}

}  // namespace strata::jinja
