#pragma once
// Builtins of the interpreter: jinja2's filters and tests (jinja_filters.cpp), the Python
// methods chat templates call on strings, lists and dicts, and the globals range, namespace
// and dict (jinja_methods.cpp).

#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_eval.h"
#include "chat/jinja_value.h"

namespace strata::jinja {

// Fail (JinjaError) on an unknown name or bad arguments.
Value call_filter(Interp& in, std::string_view name, const Value& subject, CallArgs& args);
bool call_test(Interp& in, std::string_view name, const Value& subject, CallArgs& args);

// `self.name` as a bound method when `self` is a str, list, tuple or dict with such a method;
// undefined otherwise.
Value bound_method(const Value& self, std::string_view name);
// range, namespace or dict; undefined for other names.
Value builtin_global(std::string_view name);

// Python's str.strip/lstrip/rstrip: `chars` none/undefined = whitespace.
std::string py_strip(std::string_view s, const Value& chars, bool left, bool right);
// Python's str.split: `sep` none = runs of whitespace; maxsplit < 0 = all.
std::vector<std::string> py_split(std::string_view s, const Value& sep, int64_t maxsplit);
// Python's str.replace (count < 0 = all).
std::string py_replace(Interp& in, std::string_view s, std::string_view old, std::string_view repl,
                       int64_t count);
// Python's `f % args` (printf style: %s %r %d %i %x %o %f %e %g %% with flags, width and
// precision), for the format filter.
std::string py_percent_format(Interp& in, std::string_view f, const std::vector<Value>& args);
// Python's str.upper/lower/capitalize/title for ASCII, Latin-1, Latin Extended-A, Greek and
// Cyrillic letters (other characters are left as they are).
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_title(std::string_view s);
// The items a for loop visits: list/tuple items, a dict's keys, a string's characters, none
// for undefined; an error for other types.
std::vector<Value> iterate(Interp& in, const Value& v);
// v[i] for lists, tuples and strings (code points), negative from the end; undefined when
// out of range.
Value index_sequence(const Value& v, int64_t i);
// v[start:stop:step] (each none when absent) as Python slices lists, tuples and strings.
Value slice_sequence(Interp& in, const Value& v, const Value& start, const Value& stop,
                     const Value& step);
// Python's json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=sort_keys), as
// transformers' tojson filter calls it. indent < 0: one line with ", " and ": ".
std::string to_json(const Value& v, int indent, bool sort_keys);

}  // namespace strata::jinja
