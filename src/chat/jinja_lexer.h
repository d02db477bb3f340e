#pragma once
// The Jinja lexer: template source -> text and tag tokens, configured as Hugging Face
// transformers configures jinja2 for chat templates: trim_blocks and lstrip_blocks on,
// keep_trailing_newline off, default delimiters ({{ }}, {% %}, {# #}).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata::jinja {

enum class TokenType {
  kText,        // literal output, whitespace control already applied
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text holds the decoded value
  kInt,
  kFloat,
  kOp,  // text holds the operator: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;  // 1-based, of the token's first character
  int col = 1;
};

// Tokens of `source`, ending with kEof. Comments are dropped and {% raw %} blocks become
// text. Throws JinjaError (with line and column) on an unterminated tag, comment or string
// and on a character no token starts with.
std::vector<Token> lex_template(std::string_view source);

}  // namespace strata::jinja
