// Values of the Jinja interpreter (see jinja_value.h).
#include "chat/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace strata::jinja {

namespace {

// Printing and comparing recurse into nested values; a list that contains itself (possible
// through append) would recurse forever. Python gives up near 1000 levels; 64 is plenty for
// chat data.
constexpr int kMaxValueDepth = 64;

void check_depth(int depth) {
  if (depth > kMaxValueDepth) fail("value nested too deeply (or contains itself)");
}

bool equals_at(const Value& a, const Value& b, int depth);

bool dict_equals(const Dict& a, const Dict& b, int depth) {
  if (a.items.size() != b.items.size()) return false;
  for (const auto& [k, v] : a.items) {
    const Value* other = b.find(k);
    if (other == nullptr || !equals_at(v, *other, depth + 1)) return false;
  }
  return true;
}

bool equals_at(const Value& a, const Value& b, int depth) {
  check_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.str() == b.str();
    case Kind::kList:
    case Kind::kTuple: {
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!equals_at(a.items()[i], b.items()[i], depth + 1)) return false;
      }
      return true;
    }
    case Kind::kDict:
      return dict_equals(a.dict_ref(), b.dict_ref(), depth);
    default:
      return a.same_object(b);
  }
}

int compare_at(const Value& a, const Value& b, int depth) {
  check_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_float(), y = b.as_float();
      return x < y ? -1 : (y < x ? 1 : 0);
    }
    const int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (y < x ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    // UTF-8 byte order is code point order, which is what Python compares.
    const int c = a.str().compare(b.str());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const size_t n = std::min(a.items().size(), b.items().size());
    for (size_t i = 0; i < n; ++i) {
      if (equals_at(a.items()[i], b.items()[i], depth + 1)) continue;
      return compare_at(a.items()[i], b.items()[i], depth + 1);
    }
    return a.items().size() < b.items().size() ? -1 : (a.items().size() > b.items().size());
  }
  fail(fmt::format("'<' not supported between instances of '{}' and '{}'", type_name(a),
                   type_name(b)));
}

void repr_to(const Value& v, std::string& out, int depth);

void repr_dict_items(const Dict& d, std::string& out, int depth) {
  out += '{';
  bool first = true;
  for (const auto& [k, val] : d.items) {
    if (!first) out += ", ";
    first = false;
    repr_to(k, out, depth + 1);
    out += ": ";
    repr_to(val, out, depth + 1);
  }
  out += '}';
}

void repr_to(const Value& v, std::string& out, int depth) {
  check_depth(depth);
  switch (v.kind()) {
    case Kind::kUndefined:
      out += "Undefined";
      return;
    case Kind::kNone:
      out += "None";
      return;
    case Kind::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case Kind::kInt:
      out += std::to_string(v.as_int());
      return;
    case Kind::kFloat:
      out += float_repr(v.as_float());
      return;
    case Kind::kString:
      out += string_repr(v.str());
      return;
    case Kind::kList:
    case Kind::kTuple: {
      out += v.is_list() ? '[' : '(';
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += ", ";
        repr_to(v.items()[i], out, depth + 1);
      }
      if (v.is_tuple() && v.items().size() == 1) out += ',';
      out += v.is_list() ? ']' : ')';
      return;
    }
    case Kind::kDict:
      repr_dict_items(v.dict_ref(), out, depth);
      return;
    case Kind::kNamespace:
      out += "<Namespace ";
      repr_dict_items(v.dict_ref(), out, depth);
      out += '>';
      return;
    case Kind::kCallable:
      out += "<function " + v.fn().name + ">";
      return;
  }
}

// Python's str.isprintable() for the code points a chat message may hold: C0 and C1
// controls, DEL, no-break space and soft hyphen are escaped by repr(); other non-ASCII
// characters are taken as printable (an approximation of the Unicode tables).
bool printable_code_point(uint32_t cp) {
  return !(cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD);
}

}  // namespace

void fail(std::string message) { throw JinjaError{std::move(message)}; }

const Value* Dict::find(const Value& key) const {
  for (const auto& kv : items) {
    if (kv.first.kind() == key.kind() && key.is_string()) {
      if (kv.first.str() == key.str()) return &kv.second;
    } else if (equals(kv.first, key)) {
      return &kv.second;
    }
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& kv : items) {
    if (kv.first.is_string() && kv.first.str() == key) return &kv.second;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& kv : items) {
    if (equals(kv.first, key)) {
      kv.second = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

Value CallArgs::get(size_t index, std::string_view name, const Value& fallback) const {
  if (index < pos.size()) return pos[index];
  for (const auto& [k, v] : kw) {
    if (k == name) return v;
  }
  return fallback;
}

Value Value::undefined(std::string message) {
  Value v;
  v.s_ = std::make_shared<const std::string>(std::move(message));
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::kList;
  v.list_ = std::make_shared<List>(List{std::move(items)});
  return v;
}
Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}
Value Value::dict() {
  Value v;
  v.kind_ = Kind::kDict;
  v.dict_ = std::make_shared<Dict>();
  return v;
}
Value Value::namespace_object() {
  Value v = dict();
  v.kind_ = Kind::kNamespace;
  return v;
}
Value Value::callable(std::string name, std::function<Value(Interp&, CallArgs&)> fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.fn_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int max_depth) {
  if (max_depth < 0) fail("JSON input nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return number(static_cast<double>(u));
      return integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, max_depth - 1));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value d = dict();
      d.dict_ref().items.reserve(j.size());
      // JSON object keys are unique after parsing, so no lookup is needed.
      for (const auto& [k, e] : j.items()) {
        d.dict_ref().items.emplace_back(string(k), from_json(e, max_depth - 1));
      }
      return d;
    }
    default:
      return none();  // binary and discarded values do not occur in parsed JSON
  }
}

const std::string& Value::empty_string() {
  static const std::string empty;
  return empty;
}

double Value::as_float() const {
  if (kind_ == Kind::kFloat) return f_;
  return static_cast<double>(as_int());
}

bool Value::same_object(const Value& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kList:
    case Kind::kTuple:
      return list_ == o.list_;
    case Kind::kDict:
    case Kind::kNamespace:
      return dict_ == o.dict_;
    case Kind::kCallable:
      return fn_ == o.fn_;
    default:
      return equals(*this, o);
  }
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return v.as_bool();
    case Kind::kInt:
      return v.as_int() != 0;
    case Kind::kFloat:
      return v.as_float() != 0.0;
    case Kind::kString:
      return !v.str().empty();
    case Kind::kList:
    case Kind::kTuple:
      return !v.items().empty();
    case Kind::kDict:
      return !v.dict_ref().items.empty();
    default:
      return true;
  }
}

bool equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }
int compare(const Value& a, const Value& b) { return compare_at(a, b, 0); }

std::string to_str(const Value& v) {
  if (v.is_string()) return v.str();
  if (v.is_undefined()) return "";
  std::string out;
  repr_to(v, out, 0);
  return out;
}

std::string repr(const Value& v) {
  std::string out;
  repr_to(v, out, 0);
  return out;
}

// Python's repr(float): the shortest digits that round-trip, fixed notation when the
// decimal exponent is in [-4, 16), else d.ddde+XX.
std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e + 1));
  const int decpt = exp10 + 1;
  const int n = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return sign + "0." + std::string(-decpt, '0') + digits;
    if (decpt >= n) return sign + digits + std::string(decpt - n, '0') + ".0";
    return sign + digits.substr(0, decpt) + "." + digits.substr(decpt);
  }
  std::string mant = digits.substr(0, 1);
  if (n > 1) mant += "." + digits.substr(1);
  return fmt::format("{}{}e{}{:02d}", sign, mant, exp10 < 0 ? '-' : '+', std::abs(exp10));
}

std::string string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  const std::vector<size_t> offs = code_point_offsets(s);
  for (size_t k = 0; k + 1 < offs.size(); ++k) {
    const std::string_view unit = s.substr(offs[k], offs[k + 1] - offs[k]);
    const auto c = static_cast<unsigned char>(unit[0]);
    if (unit.size() == 1) {
      if (c == '\\' || c == static_cast<unsigned char>(quote)) {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20 || c >= 0x7F) {  // controls and invalid UTF-8 bytes
        out += fmt::format("\\x{:02x}", c);
      } else {
        out += static_cast<char>(c);
      }
      continue;
    }
    uint32_t cp = unit.size() == 2 ? (c & 0x1F) : unit.size() == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t i = 1; i < unit.size(); ++i) cp = (cp << 6) | (unit[i] & 0x3F);
    if (printable_code_point(cp)) {
      out += unit;
    } else {
      out += fmt::format("\\x{:02x}", cp);
    }
  }
  out += quote;
  return out;
}

const char* type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kCallable:
      return "function";
  }
  return "object";
}

std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> offs;
  offs.reserve(s.size() + 1);
  size_t i = 0;
  while (i < s.size()) {
    offs.push_back(i);
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
    if (c >= 0xF5) n = 1;
    bool ok = i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    i += ok ? n : 1;
  }
  offs.push_back(s.size());
  return offs;
}

size_t code_point_count(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return code_point_offsets(s).size() - 1;
  }
  return s.size();
}

}  // namespace strata::jinja
