// A small JSON reader and the writing helpers mnemo's file formats need (safetensors headers,
// exported metadata; later tokenizer files), without pulling a JSON library into core/.
//
// The reader treats its input as untrusted: it never recurses deeper than a fixed limit, keeps
// numbers as their source text so that 64-bit offsets and sizes are read exactly (a double would
// round them above 2^53), rejects duplicate object keys (two meanings for one name is a malformed
// file, not a choice to make silently), and reports the byte offset of the first error. Beyond
// RFC 8259 it accepts the tokens NaN, Infinity and -Infinity, which Python's json module writes
// and reads, so that non-finite floats can round-trip through metadata.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.h"

namespace mnemo::json {

// One parsed JSON value. Objects keep their members in source order.
struct Value {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // kString: the decoded string; kNumber: the number as written
  std::vector<Value> items;                           // kArray
  std::vector<std::pair<std::string, Value>> members; // kObject

  bool is_object() const { return kind == Kind::kObject; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kNumber; }
  // The member named `key`, or nullptr (objects only).
  const Value* find(const std::string& key) const;

  // Checked accessors: throw mnemo::Error naming `what` and what was found instead.
  const std::string& as_string(const std::string& what) const;
  // A non-negative integer written without fraction or exponent, exactly, up to 2^64 - 1.
  std::uint64_t as_uint64(const std::string& what) const;
  std::int64_t as_int64(const std::string& what) const;
  double as_double(const std::string& what) const;
  bool as_bool(const std::string& what) const;
};

// Parses one JSON document (surrounding whitespace allowed). Throws mnemo::Error with `origin`
// and the byte offset on malformed input, nesting deeper than 128, or a duplicate key.
Value parse(const std::string& text, const std::string& origin);

// `s` as a JSON string literal, quotes included (control characters escaped, UTF-8 passed through).
std::string quote(const std::string& s);
// A double that reads back to the same value (shortest of %.15g/%.16g/%.17g that round-trips);
// non-finite values as NaN / Infinity / -Infinity (see above).
std::string number(double v);

// A JSON array of numbers: integers as written, floating-point values as number() writes them.
template <class T>
std::string list(const std::vector<T>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    if constexpr (std::is_floating_point_v<T>) s += number(v[i]);
    else s += std::to_string(v[i]);
  }
  return s + "]";
}

}  // namespace mnemo::json
