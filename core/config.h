// Configuration: YAML files and `--set a.b=c` overrides bound into typed option structs.
//
// Every component declares its options as a plain struct with defaults in code and a visit()
// that names each field with a one-line comment:
//
//   struct PPOOptions {
//     double lr = 2.5e-4;
//     template <class V> void visit(V& v) { v("lr", lr, "Adam learning rate"); }
//   };
//
// The same visit() binds YAML (Reader), prints the resolved config with comments (Writer) and
// lists the valid keys for error messages. Unknown keys and wrong types are ConfigErrors naming
// the key, where it came from (file:line or the --set argument) and the nearest valid key.
// yaml-cpp stays inside config.cc; this header carries only the small Node tree.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.h"

namespace mnemo::config {

// A parsed YAML value with the place it came from.
struct Node {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;                              // kScalar
  bool quoted = false;                             // scalar was a quoted string in the source
  std::vector<Node> items;                         // kSequence
  std::vector<std::pair<std::string, Node>> map;   // kMap, in source order
  std::string origin;                              // "file.yaml:12" or "--set a.b=c"

  const Node* find(const std::string& key) const;
  Node* find(const std::string& key);
  bool is_map() const { return kind == Kind::kMap; }
};

// Parses YAML text; `origin` names it in errors (a file path). Throws ConfigError on bad YAML.
Node parse_yaml(const std::string& text, const std::string& origin);
// Reads and parses a file; a missing file is a ConfigError.
Node load_file(const std::string& path);
// Applies "a.b.c=value" (value parsed as a YAML scalar or flow sequence) to `root`.
void apply_override(Node& root, const std::string& assignment);
// A value in YAML flow style ("1e-3", "[64, 64]", "{name: tmaze, corridor_length: 10}"), as
// apply_override parses it back.
std::string flow_text(const Node& n);
// Levenshtein-nearest of `candidates` to `key`, or "" when none is close.
std::string nearest(const std::string& key, const std::vector<std::string>& candidates);

namespace detail {
// Probes visit() with a generic callable: a struct is an options struct if visit accepts any V.
struct KeyCollector {
  std::vector<std::string> keys;
  template <class T>
  void operator()(const char* key, T&, const char*) { keys.emplace_back(key); }
};
template <class T, class = void>
struct is_options : std::false_type {};
template <class T>
struct is_options<T, std::void_t<decltype(std::declval<T&>().visit(std::declval<KeyCollector&>()))>>
    : std::true_type {};

std::string join_path(const std::string& path, const std::string& key);
[[noreturn]] void type_error(const Node& node, const std::string& path, const std::string& expected);

void read_scalar(const Node& n, const std::string& path, bool& out);
void read_scalar(const Node& n, const std::string& path, int& out);
void read_scalar(const Node& n, const std::string& path, std::int64_t& out);
void read_scalar(const Node& n, const std::string& path, std::uint64_t& out);
void read_scalar(const Node& n, const std::string& path, double& out);
void read_scalar(const Node& n, const std::string& path, std::string& out);

void write_scalar(std::ostream& os, bool v);
void write_scalar(std::ostream& os, int v);
void write_scalar(std::ostream& os, std::int64_t v);
void write_scalar(std::ostream& os, std::uint64_t v);
void write_scalar(std::ostream& os, double v);
void write_scalar(std::ostream& os, const std::string& v);
void write_node(std::ostream& os, const Node& n, int indent);
}  // namespace detail

// Binds a map Node into an options struct through its visit(). Keys absent from the node keep
// their defaults; keys the struct does not declare are errors (unless listed in `ignore`).
class Reader {
 public:
  Reader(const Node& node, std::string path, std::vector<std::string> ignore = {})
      : node_(node), path_(std::move(path)), ignore_(std::move(ignore)) {}

  template <class T>
  void operator()(const char* key, T& value, const char* /*help*/) {
    known_.emplace_back(key);
    const Node* child = node_.is_map() ? node_.find(key) : nullptr;
    if (child == nullptr) return;
    read(*child, detail::join_path(path_, key), value);
  }

  // Errors on keys of the node that no field consumed.
  void finish() const;

  template <class T>
  static void read(const Node& n, const std::string& path, T& value) {
    if constexpr (std::is_same_v<T, Node>) {
      value = n;
    } else if constexpr (detail::is_options<T>::value) {
      if (n.kind == Node::Kind::kNull) return;
      if (!n.is_map()) detail::type_error(n, path, "a mapping");
      Reader sub(n, path);
      value.visit(sub);
      sub.finish();
    } else if constexpr (is_vector<T>::value) {
      if (n.kind != Node::Kind::kSequence) detail::type_error(n, path, "a list");
      T out;
      out.resize(n.items.size());
      for (std::size_t i = 0; i < n.items.size(); ++i)
        read(n.items[i], path + "[" + std::to_string(i) + "]", out[i]);
      value = std::move(out);
    } else {
      detail::read_scalar(n, path, value);
    }
  }

 private:
  template <class T> struct is_vector : std::false_type {};
  template <class T> struct is_vector<std::vector<T>> : std::true_type {};

  const Node& node_;
  std::string path_;
  std::vector<std::string> ignore_;
  std::vector<std::string> known_;
};

// Prints options as YAML with each field's comment; the output parses back to the same values.
class Writer {
 public:
  explicit Writer(std::ostream& os, int indent = 0) : os_(os), indent_(indent) {}

  template <class T>
  void operator()(const char* key, const T& value, const char* help) {
    pad();
    os_ << key << ":";
    if constexpr (std::is_same_v<T, Node>) {
      if (value.is_map() && !value.map.empty()) {
        comment(help);
        os_ << "\n";
        detail::write_node(os_, value, indent_ + 2);
      } else {
        os_ << " ";
        detail::write_node(os_, value, indent_ + 2);
        comment(help);
        os_ << "\n";
      }
    } else if constexpr (detail::is_options<T>::value) {
      comment(help);
      os_ << "\n";
      Writer sub(os_, indent_ + 2);
      const_cast<T&>(value).visit(sub);
    } else if constexpr (is_vector<T>::value) {
      os_ << " [";
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (i) os_ << ", ";
        detail::write_scalar(os_, value[i]);
      }
      os_ << "]";
      comment(help);
      os_ << "\n";
    } else {
      os_ << " ";
      detail::write_scalar(os_, value);
      comment(help);
      os_ << "\n";
    }
  }

 private:
  template <class T> struct is_vector : std::false_type {};
  template <class T> struct is_vector<std::vector<T>> : std::true_type {};
  void pad() { os_ << std::string(static_cast<std::size_t>(indent_), ' '); }
  void comment(const char* help) {
    if (help != nullptr && *help != '\0') os_ << "  # " << help;
  }
  std::ostream& os_;
  int indent_;
};

// Binds `node` (a mapping, or null for all defaults) into `out`, checking unknown keys.
template <class T>
void bind(const Node& node, const std::string& path, T& out, std::vector<std::string> ignore = {}) {
  if (node.kind == Node::Kind::kNull) return;
  if (!node.is_map()) detail::type_error(node, path, "a mapping");
  Reader r(node, path, std::move(ignore));
  out.visit(r);
  r.finish();
}

// The options as commented YAML.
template <class T>
std::string to_yaml(const T& options, int indent = 0) {
  std::ostringstream os;
  Writer w(os, indent);
  const_cast<T&>(options).visit(w);
  return os.str();
}

}  // namespace mnemo::config
