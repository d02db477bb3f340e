// The Jinja lexer (see jinja_lexer.h). Whitespace control follows jinja2's lexer: a '-'
// beside a delimiter strips all whitespace on that side; lstrip_blocks removes spaces and
// tabs between the start of a line and a {% or {# tag; trim_blocks removes the first newline
// after a %} or #} tag; '+' turns either off for one tag.
#include "chat/jinja_lexer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "chat/jinja_value.h"

namespace strata::jinja {

namespace {

// Python's str.isspace() for ASCII, which is what jinja2's \s and str.rstrip() match in
// template text (other Unicode spaces are rare in templates).
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
         (c >= '\x1c' && c <= '\x1f');
}
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // jinja2 turns \r\n and \r into \n and, without keep_trailing_newline, drops one
    // trailing newline.
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> run() {
    size_t pos = 0;
    while (pos < src_.size()) {
      const size_t tag = next_tag(pos);
      if (tag == std::string::npos) {
        emit_text(pos, src_.size());
        break;
      }
      pos = lex_tag(pos, tag);
    }
    Token eof;
    eof.type = TokenType::kEof;
    locate(src_.size(), &eof);
    out_.push_back(eof);
    return std::move(out_);
  }

 private:
  size_t next_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return std::string::npos;
  }

  void locate(size_t pos, Token* t) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
    t->line = static_cast<int>(it - line_starts_.begin());
    t->col = static_cast<int>(pos - *(it - 1)) + 1;
  }

  [[noreturn]] void error_at(size_t pos, std::string message) const {
    Token t;
    locate(pos, &t);
    throw JinjaError{std::move(message), t.line, t.col};
  }

  bool starts_with(size_t pos, std::string_view s) const {
    return src_.compare(pos, s.size(), s) == 0;
  }
  size_t skip_space(size_t pos) const {
    while (pos < src_.size() && is_space(src_[pos])) ++pos;
    return pos;
  }

  void emit_text(size_t begin, size_t end) {
    if (end <= begin) return;
    Token t;
    t.type = TokenType::kText;
    t.text = src_.substr(begin, end - begin);
    locate(begin, &t);
    out_.push_back(std::move(t));
  }

  // The end of the text [begin, end) that precedes a tag whose opener carries `sign`
  // ('-', '+' or 0); `lstrip` is whether lstrip_blocks applies to this kind of tag.
  size_t text_end(size_t begin, size_t end, char sign, bool lstrip) const {
    if (sign == '-') {
      while (end > begin && is_space(src_[end - 1])) --end;
      return end;
    }
    if (sign == '+' || !lstrip) return end;
    size_t line_begin = begin;
    for (size_t i = end; i > begin; --i) {
      if (src_[i - 1] == '\n') {
        line_begin = i;
        break;
      }
    }
    const bool line_starting = begin == 0 || src_[begin - 1] == '\n';
    if (line_begin == begin && !line_starting) return end;
    if (line_begin == end) return end;
    for (size_t i = line_begin; i < end; ++i) {
      if (!is_space(src_[i])) return end;
    }
    return line_begin;
  }

  // After a %} or #} (at `pos`, just past it) preceded by `sign`: '-' strips the whitespace
  // that follows, trim_blocks drops one newline.
  size_t after_block_end(size_t pos, char sign) const {
    if (sign == '-') return skip_space(pos);
    if (sign != '+' && pos < src_.size() && src_[pos] == '\n') return pos + 1;
    return pos;
  }

  // {% raw %} at `tag`: the end of the opener, or npos if it is some other tag.
  size_t raw_opener_end(size_t tag, size_t* skip_to) const {
    size_t i = tag + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    i = skip_space(i);
    if (!starts_with(i, "raw")) return std::string::npos;
    i = skip_space(i + 3);
    if (starts_with(i, "-%}")) {
      *skip_to = skip_space(i + 3);
      return i + 3;
    }
    if (starts_with(i, "%}")) {
      *skip_to = i + 2;
      return i + 2;
    }
    return std::string::npos;
  }

  // Scans text, then the tag at `tag`; returns where the next text starts.
  size_t lex_tag(size_t pos, size_t tag) {
    const char kind = src_[tag + 1];
    size_t i = tag + 2;
    char sign = 0;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) sign = src_[i++];
    emit_text(pos, text_end(pos, tag, sign, kind != '{'));
    if (kind == '#') {
      const size_t close = src_.find("#}", i);
      if (close == std::string::npos) error_at(tag, "missing end of comment tag");
      const char end_sign = close > i ? src_[close - 1] : 0;
      return after_block_end(close + 2, end_sign == '-' || end_sign == '+' ? end_sign : 0);
    }
    if (kind == '%') {
      size_t body = 0;
      if (raw_opener_end(tag, &body) != std::string::npos) return lex_raw(tag, body);
    }
    return lex_expression_tag(tag, i, kind);
  }

  size_t lex_raw(size_t tag, size_t body) {
    for (size_t j = src_.find("{%", body); j != std::string::npos; j = src_.find("{%", j + 1)) {
      size_t k = j + 2;
      char sign = 0;
      if (k < src_.size() && (src_[k] == '-' || src_[k] == '+')) sign = src_[k++];
      k = skip_space(k);
      if (!starts_with(k, "endraw")) continue;
      k = skip_space(k + 6);
      char end_sign = 0;
      if (k < src_.size() && (src_[k] == '-' || src_[k] == '+')) end_sign = src_[k++];
      if (!starts_with(k, "%}")) continue;
      emit_text(body, text_end(body, j, sign, true));
      return after_block_end(k + 2, end_sign);
    }
    error_at(tag, "missing end of raw directive");
  }

  size_t lex_expression_tag(size_t tag, size_t i, char kind) {
    Token begin;
    begin.type = kind == '{' ? TokenType::kVarBegin : TokenType::kBlockBegin;
    locate(tag, &begin);
    out_.push_back(begin);
    const char closer = kind == '{' ? '}' : '%';
    int depth = 0;  // open brackets: a }} inside {{ {'a': {}} }} closes a dict
    while (true) {
      i = skip_space(i);
      if (i >= src_.size()) {
        error_at(tag, kind == '{' ? "unexpected end of template: unclosed '{{'"
                                  : "unexpected end of template: unclosed '{%'");
      }
      if (depth == 0) {
        const char close_str[3] = {closer, '}', 0};
        char sign = 0;
        size_t at = i;
        if ((src_[i] == '-' || src_[i] == '+') && starts_with(i + 1, close_str)) {
          sign = src_[i];
          at = i + 1;
        }
        if (starts_with(at, close_str) && !(sign == '+' && kind == '{')) {
          Token end;
          end.type = kind == '{' ? TokenType::kVarEnd : TokenType::kBlockEnd;
          locate(i, &end);
          out_.push_back(end);
          if (kind == '{') return sign == '-' ? skip_space(at + 2) : at + 2;
          return after_block_end(at + 2, sign);
        }
      }
      i = lex_token(i, &depth);
    }
  }

  size_t lex_token(size_t i, int* depth) {
    Token t;
    locate(i, &t);
    const char c = src_[i];
    if (is_name_start(c)) {
      size_t j = i;
      while (j < src_.size() && is_name_char(src_[j])) ++j;
      t.type = TokenType::kName;
      t.text = src_.substr(i, j - i);
      out_.push_back(std::move(t));
      return j;
    }
    if (is_digit(c)) return lex_number(i, std::move(t));
    if (c == '\'' || c == '"') return lex_string(i, std::move(t));
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    t.type = TokenType::kOp;
    for (std::string_view op : kTwo) {
      if (starts_with(i, op)) {
        t.text = std::string(op);
        out_.push_back(std::move(t));
        return i + 2;
      }
    }
    if (std::string_view("+-*/%~<>=()[]{},.:|;").find(c) == std::string_view::npos) {
      error_at(i, fmt::format("unexpected char '{}'", c));
    }
    if (c == '(' || c == '[' || c == '{') ++*depth;
    if (c == ')' || c == ']' || c == '}') --*depth;
    t.text = std::string(1, c);
    out_.push_back(std::move(t));
    return i + 1;
  }

  // Decimal integers and floats, with '_' between digits as Python allows.
  size_t lex_number(size_t i, Token t) {
    auto digits = [&](size_t j, std::string* out) {
      while (j < src_.size() && (is_digit(src_[j]) || (src_[j] == '_' && j + 1 < src_.size() &&
                                                       is_digit(src_[j + 1])))) {
        if (src_[j] != '_') *out += src_[j];
        ++j;
      }
      return j;
    };
    std::string text;
    size_t j = digits(i, &text);
    bool is_float = false;
    if (j + 1 < src_.size() && src_[j] == '.' && is_digit(src_[j + 1])) {
      text += '.';
      j = digits(j + 1, &text);
      is_float = true;
    }
    if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
      size_t k = j + 1;
      std::string exp = "e";
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) exp += src_[k++];
      if (k < src_.size() && is_digit(src_[k])) {
        j = digits(k, &exp);
        text += exp;
        is_float = true;
      }
    }
    if (is_float) {
      t.type = TokenType::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.type = TokenType::kInt;
      errno = 0;
      const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
      if (errno != 0 || v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
        error_at(i, "integer literal too large");
      }
      t.int_value = static_cast<int64_t>(v);
    }
    t.text = std::move(text);
    out_.push_back(std::move(t));
    return j;
  }

  // A string literal with Python's escapes (\n \t \\ \' \" \xNN \uNNNN \UNNNNNNNN, octal);
  // an unknown escape keeps its backslash, as Python does.
  size_t lex_string(size_t i, Token t) {
    const char quote = src_[i];
    std::string value;
    size_t j = i + 1;
    while (true) {
      if (j >= src_.size())
        error_at(i, fmt::format("unexpected char '{}' (unterminated string)", quote));
      const char c = src_[j];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++j;
        continue;
      }
      if (j + 1 >= src_.size()) error_at(i, "unterminated string");
      const char e = src_[j + 1];
      j += 2;
      switch (e) {
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case '\\':
          value += '\\';
          break;
        case '\'':
          value += '\'';
          break;
        case '"':
          value += '"';
          break;
        case 'a':
          value += '\a';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'v':
          value += '\v';
          break;
        case '\n':
          break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int d = j + k < src_.size() ? hex_digit(src_[j + k]) : -1;
            if (d < 0) error_at(j - 2, fmt::format("truncated \\{} escape in a string", e));
            cp = cp * 16 + d;
          }
          if (cp > 0x10FFFF) error_at(j - 2, "escape past U+10FFFF in a string");
          j += n;
          append_utf8(value, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = e - '0';
            for (int k = 0; k < 2 && j < src_.size() && src_[j] >= '0' && src_[j] <= '7'; ++k) {
              cp = cp * 8 + (src_[j++] - '0');
            }
            append_utf8(value, cp);
          } else {
            value += '\\';
            value += e;
          }
      }
    }
    t.type = TokenType::kString;
    t.text = std::move(value);
    out_.push_back(std::move(t));
    return j + 1;
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex_template(std::string_view source) { return Lexer(source).run(); }

}  // namespace strata::jinja
