#pragma once
// The Jinja syntax tree and its parser. Precedence, from loosest: `a if c else b`, or, and,
// not, comparisons (== != < <= > >= in, not in), + -, ~, * / // %, **, unary - +, then
// postfix (.attr, [item], [a:b:c], (call)), filters and `is` tests, as in jinja2's parser.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"
#include "core/status.h"

namespace strata::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprType {
  kLiteral,  // value
  kName,     // name
  kList,     // kids
  kTuple,    // kids
  kDict,     // kids: key, value, key, value, ...
  kAttr,     // kids[0].name
  kItem,     // kids[0][kids[1]]
  kSlice,    // kids[0][kids[1]:kids[2]:kids[3]], absent parts null
  kCall,     // kids[0](kids[1..], kwargs)
  kFilter,   // kids[0] | name(kids[1..], kwargs)
  kTest,     // kids[0] is [not] name(kids[1..], kwargs)
  kNot,      // not kids[0]
  kNeg,      // -kids[0]
  kPos,      // +kids[0]
  kBinary,   // kids[0] name kids[1], name one of + - * / // % ** ~
  kCompare,  // kids[0] ops[0] kids[1] ops[1] kids[2] ..., chained as in Python
  kAnd,
  kOr,
  kCond,  // kids[0] if kids[1] else kids[2] (null: undefined)
};

struct Expr {
  ExprType type = ExprType::kLiteral;
  int line = 0;
  int col = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> kids;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;      // kTest: `is not`
  bool known_callee = true;  // kFilter / kTest: the name exists (else a run-time error)
  int height = 1;            // of the subtree; the parser caps it
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtType {
  kText,         // text
  kOutput,       // {{ exprs[0] }}
  kIf,           // exprs: conditions; bodies: one per condition, plus else if present
  kFor,          // names: targets; exprs: iterable, filter (may be null); bodies: body, else
  kSet,          // names: targets (or names[0] = namespace and attr); exprs[0]: value
  kSetBlock,     // names[0] (or namespace + attr) = rendered bodies[0]
  kMacro,        // names[0]: macro name, names[1..]: parameters; exprs: defaults (null = none)
  kCallBlock,    // exprs[0]: the call; names: caller's parameters; bodies[0]: caller's body
  kFilterBlock,  // exprs[0]: filter chain applied to the name "\x01block"; bodies[0]
  kWith,         // names = exprs, bodies[0] in a new scope
  kBreak,
  kContinue,
  kScope,  // bodies[0] as is ({% generation %} of transformers' AssistantTracker)
};

struct Stmt {
  StmtType type = StmtType::kText;
  int line = 0;
  int col = 0;
  std::string text;
  std::string attr;  // kSet / kSetBlock on a namespace attribute: `set names[0].attr = ...`
  std::vector<std::string> names;
  std::vector<ExprPtr> exprs;
  std::vector<Body> bodies;
};

struct Template {
  Body body;
};

// The name under which a {% filter %} block's rendered text reaches its filter chain; not
// a valid identifier, so no template can shadow it.
inline constexpr std::string_view kFilterBlockName =
    "\x01"
    "block";

// Parses `source`. Errors: "<line>:<col>: <what>" for a syntax error, an unknown tag, a
// misplaced end tag, nesting deeper than 128 levels, or a filter or test that does not exist
// (outside an {% if %}, where jinja2 also reports it at compile time).
[[nodiscard]] Result<std::shared_ptr<const Template>> parse_template(std::string_view source);

// Whether a filter or test of this name exists (jinja_builtins.cpp).
bool has_filter(std::string_view name);
bool has_test(std::string_view name);

}  // namespace strata::jinja
