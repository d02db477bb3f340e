#pragma once
// Values of the Jinja interpreter, with Python's semantics: what a Hugging Face chat template
// sees when transformers renders it with jinja2 (str, int, float, bool, None, list, tuple,
// dict, jinja2's Undefined and namespace, callables).
//
// Lists, dicts and namespaces are shared by reference, as in Python, so `ns.x = ...` and
// list.append are seen through every copy. Strings are shared immutable buffers, so copying
// a Value is cheap whatever its size. Not thread-safe: a Value belongs to one render.

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::jinja {

// A template error on its way out of the interpreter. The evaluator stamps it with the line
// and column of the innermost node it unwinds through; render_template turns it into a
// Status, so it never leaves this library. An exception because errors surface deep inside
// recursive evaluation, where threading a Result through every helper would double the code.
struct JinjaError {
  std::string message;
  int line = 0;  // 1-based; 0 until a node stamps it
  int col = 0;
};
[[noreturn]] void fail(std::string message);

enum class Kind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kDict,
  kNamespace,
  kCallable,
};

class Value;
class Interp;

struct List {
  std::vector<Value> items;
};

// An insertion-ordered dict (Python 3.7+ dicts keep insertion order, and tools' JSON schemas
// print in it). Linear lookup: chat messages and schemas hold a handful of keys.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

// Positional and keyword arguments of a call, a filter or a test.
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // The argument at position `index` or keyword `name`, or `fallback` when neither is given.
  Value get(size_t index, std::string_view name, const Value& fallback) const;
};

struct Callable {
  std::string name;  // for messages and printing
  std::function<Value(Interp&, CallArgs&)> fn;
};

class Value {
 public:
  Value() = default;  // undefined
  // `message` is the error for using it, e.g. "'x' is undefined".
  static Value undefined(std::string message = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value dict();
  static Value namespace_object();
  static Value callable(std::string name, std::function<Value(Interp&, CallArgs&)> fn);
  // JSON -> Value; arrays become lists, objects dicts (keys in the order given). Errors past
  // `max_depth` levels of nesting.
  static Value from_json(const nlohmann::ordered_json& j, int max_depth = 256);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence() const { return is_list() || is_tuple(); }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? int64_t{b_} : i_; }  // bool, int
  double as_float() const;                                                    // bool, int, float
  // string: its text; undefined: the message for using it ("'x' is undefined"), maybe "".
  const std::string& str() const { return s_ ? *s_ : empty_string(); }
  std::vector<Value>& items() const { return list_->items; }  // list, tuple
  Dict& dict_ref() const { return *dict_; }                   // dict, namespace
  const Callable& fn() const { return *fn_; }
  // Same object (Python `is`) for lists, dicts and namespaces.
  bool same_object(const Value& o) const;

 private:
  static const std::string& empty_string();
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<const Callable> fn_;
};

// Python's bool(): empty strings, sequences and dicts, 0, None and undefined are false.
bool truthy(const Value& v);
// Python's ==: 1 == 1.0 == True, lists and tuples never equal, dicts ignore order.
bool equals(const Value& a, const Value& b);
// Python's <, as -1/0/1; an error for types Python cannot order (e.g. str < int).
int compare(const Value& a, const Value& b);
// Python's str(): what {{ v }} prints. Undefined prints as "".
std::string to_str(const Value& v);
// Python's repr(): strings quoted as Python quotes them, floats shortest round-trip.
std::string repr(const Value& v);
std::string float_repr(double f);
std::string string_repr(std::string_view s);
// Python's type name, for messages: "str", "int", "list", "dict", "NoneType", ...
const char* type_name(const Value& v);

// Python strings index code points; ours are UTF-8. Byte offsets of each code point (an
// invalid byte counts as one), plus the end offset.
std::vector<size_t> code_point_offsets(std::string_view s);
size_t code_point_count(std::string_view s);

}  // namespace strata::jinja
