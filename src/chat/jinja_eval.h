#pragma once
// The Jinja evaluator: walks a parsed Template with a context of variables and renders it.
// Every render is bounded (output size, loop iterations and calls, bytes of strings built,
// nesting), so hostile templates end with an error instead of hanging or exhausting memory.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_parser.h"
#include "chat/jinja_value.h"
#include "core/status.h"

namespace strata::jinja {

struct RenderLimits {
  // 16 MiB is millions of tokens of prompt, far past any model's context.
  uint64_t max_output_bytes = 16ull << 20;
  // Loop iterations plus macro calls over one render. Real templates loop over messages and
  // tools (thousands); 2M empty iterations take about half a second.
  uint64_t max_steps = 2'000'000;
  // Bytes of strings (and list slots) built by output, operators, filters and methods over one
  // render: stops a loop that copies a large string over and over.
  uint64_t max_work_bytes = 1ull << 30;
  // Nesting of expression evaluation, statements and macro calls; keeps the C++ stack small.
  int max_depth = 500;
};

// Renders `tpl` with the variables of `context` (a dict; its entries shadow the builtins
// range, namespace and dict). Errors: "<line>:<col>: <message>" for everything the template
// does wrong at run time (undefined.attr, a type error, raise_exception, a limit).
[[nodiscard]] Result<std::string> render_template(const Template& tpl, const Value& context,
                                                  const RenderLimits& limits = {});

// The evaluator's state during one render. Builtins (filters, tests, methods, globals) get it
// to call back into filters and tests and to account for the work they do. Not thread-safe.
class Interp {
 public:
  Interp(const Template& tpl, const Value& context, const RenderLimits& limits);
  std::string render();

  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(std::string_view name, const Value& subject, CallArgs& args);
  bool apply_test(std::string_view name, const Value& subject, CallArgs& args);
  // Accounts for building `bytes` of output; fails past the work budget or when a single
  // string would exceed max_output_bytes.
  void charge(uint64_t bytes);
  void check_string_size(uint64_t bytes);
  // One loop iteration or call; fails past max_steps.
  void step();
  // `obj.name` and `obj[key]` with jinja2's rules (methods before dict keys for `.`).
  Value get_attr(const Value& obj, const std::string& name);
  Value get_item(const Value& obj, const Value& key);

 private:
  struct Frame {
    std::vector<std::pair<std::string, Value>> vars;
    bool barrier = false;  // a macro's scope: names above it are not visible
  };
  enum class Flow { kNormal, kBreak, kContinue };
  friend struct FrameGuard;
  friend struct DepthGuard;

  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_inner(const Stmt& s);
  Flow exec_for(const Stmt& s);
  void exec_set(const Stmt& s);
  void exec_call_block(const Stmt& s);
  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Value eval_call(const Expr& e, const Value* caller);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  void eval_args(const Expr& e, size_t first, CallArgs* args);
  // A macro (or a {% call %} block's caller) whose parameters are names[first_param..] with
  // defaults exprs[first_default..]: binds them in a scope of its own and renders `body`.
  Value call_macro(const std::vector<std::string>& names, size_t first_param,
                   const std::vector<ExprPtr>& defaults, size_t first_default, const Body& body,
                   CallArgs& args);
  std::string render_to_string(const Body& body);

  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value v);
  void emit(std::string_view s);

  const Template& tpl_;
  Value context_;
  RenderLimits limits_;
  std::vector<Frame> frames_;
  std::string* out_ = nullptr;
  uint64_t steps_ = 0;
  uint64_t work_bytes_ = 0;
  int depth_ = 0;
};

}  // namespace strata::jinja
