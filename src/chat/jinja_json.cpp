// The tojson filter as transformers defines it for chat templates: Python's
// json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=sort_keys). Unlike jinja2's own
// tojson it neither HTML-escapes <, >, & and ' nor marks the result safe, and non-ASCII text
// stays as it is, so tool schemas reach the prompt byte for byte as Python prints them.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "chat/jinja_builtins.h"

namespace strata::jinja {

namespace {

constexpr int kMaxJsonDepth = 64;

void json_string(std::string_view s, std::string& out) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string json_float(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
  return float_repr(f);
}

// A dict key as json.dumps coerces it: str as is, numbers, bools and None as their JSON text.
std::string json_key(const Value& k) {
  switch (k.kind()) {
    case Kind::kString:
      return k.str();
    case Kind::kInt:
      return std::to_string(k.as_int());
    case Kind::kFloat:
      return json_float(k.as_float());
    case Kind::kBool:
      return k.as_bool() ? "true" : "false";
    case Kind::kNone:
      return "null";
    default:
      fail(fmt::format("keys must be str, int, float, bool or None, not {}", type_name(k)));
  }
}

void newline(std::string& out, int indent, int level) {
  if (indent < 0) return;
  out += '\n';
  out.append(static_cast<size_t>(indent) * level, ' ');
}

void dump(const Value& v, int indent, bool sort_keys, int level, std::string& out) {
  if (level > kMaxJsonDepth) fail("value nested too deeply for tojson (or contains itself)");
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.kind()) {
    case Kind::kNone:
      out += "null";
      return;
    case Kind::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Kind::kInt:
      out += std::to_string(v.as_int());
      return;
    case Kind::kFloat:
      out += json_float(v.as_float());
      return;
    case Kind::kString:
      json_string(v.str(), out);
      return;
    case Kind::kList:
    case Kind::kTuple: {
      if (v.items().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += item_sep;
        newline(out, indent, level + 1);
        dump(v.items()[i], indent, sort_keys, level + 1, out);
      }
      newline(out, indent, level);
      out += ']';
      return;
    }
    case Kind::kDict: {
      if (v.dict_ref().items.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, const Value*>> entries;
      for (const auto& [k, x] : v.dict_ref().items) entries.emplace_back(json_key(k), &x);
      if (sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += item_sep;
        newline(out, indent, level + 1);
        json_string(entries[i].first, out);
        out += ": ";
        dump(*entries[i].second, indent, sort_keys, level + 1, out);
      }
      newline(out, indent, level);
      out += '}';
      return;
    }
    default:
      fail(fmt::format("Object of type {} is not JSON serializable", type_name(v)));
  }
}

}  // namespace

std::string to_json(const Value& v, int indent, bool sort_keys) {
  std::string out;
  dump(v, indent, sort_keys, 0, out);
  return out;
}

}  // namespace strata::jinja
