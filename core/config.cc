#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <limits>

namespace mnemo::config {
namespace {

Node convert(const YAML::Node& y, const std::string& file) {
  Node n;
  n.origin = file + ":" + std::to_string(y.Mark().line + 1);
  switch (y.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      n.kind = Node::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      n.kind = Node::Kind::kScalar;
      n.scalar = y.Scalar();
      n.quoted = y.Tag() == "!";
      break;
    case YAML::NodeType::Sequence:
      n.kind = Node::Kind::kSequence;
      for (const auto& item : y) n.items.push_back(convert(item, file));
      break;
    case YAML::NodeType::Map:
      n.kind = Node::Kind::kMap;
      for (const auto& kv : y) {
        std::string key = kv.first.as<std::string>();
        for (const auto& existing : n.map)
          if (existing.first == key)
            throw ConfigError("config: duplicate key '" + key + "' (" + file + ":" +
                              std::to_string(kv.first.Mark().line + 1) + ")");
        n.map.emplace_back(key, convert(kv.second, file));
      }
      break;
  }
  return n;
}

void set_origin(Node& n, const std::string& origin) {
  n.origin = origin;
  for (auto& i : n.items) set_origin(i, origin);
  for (auto& kv : n.map) set_origin(kv.second, origin);
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string where(const Node& n) { return n.origin.empty() ? std::string() : " (" + n.origin + ")"; }

}  // namespace

const Node* Node::find(const std::string& key) const {
  for (const auto& kv : map)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Node* Node::find(const std::string& key) {
  for (auto& kv : map)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Node parse_yaml(const std::string& text, const std::string& origin) {
  try {
    YAML::Node y = YAML::Load(text);
    Node n = convert(y, origin);
    if (n.kind == Node::Kind::kNull) n.kind = Node::Kind::kMap;
    return n;
  } catch (const YAML::Exception& e) {
    throw ConfigError("config: invalid YAML in " + origin + ": " + e.what());
  }
}

Node load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("config: cannot read config file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  Node n = parse_yaml(ss.str(), path);
  if (!n.is_map()) throw ConfigError("config: " + path + " must be a YAML mapping at the top level");
  return n;
}

void apply_override(Node& root, const std::string& assignment) {
  std::string origin = "--set " + assignment;
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("config: " + origin + ": expected KEY=VALUE, e.g. --set learner.lr=3e-4");
  std::string key = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);
  Node parsed;
  try {
    parsed = convert(YAML::Load(value), origin);
  } catch (const YAML::Exception& e) {
    throw ConfigError("config: " + origin + ": invalid value: " + e.what());
  }
  set_origin(parsed, origin);
  if (value.empty()) {
    parsed.kind = Node::Kind::kScalar;
    parsed.scalar.clear();
  }
  Node* cur = &root;
  std::size_t start = 0;
  while (true) {
    auto dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw ConfigError("config: " + origin + ": empty key component in '" + key + "'");
    if (cur->kind == Node::Kind::kNull) cur->kind = Node::Kind::kMap;
    if (!cur->is_map())
      throw ConfigError("config: " + origin + ": '" + key.substr(0, start ? start - 1 : 0) + "' is not a mapping");
    Node* child = cur->find(part);
    if (child == nullptr) {
      cur->map.emplace_back(part, Node{});
      child = &cur->map.back().second;
      child->origin = origin;
    }
    if (dot == std::string::npos) {
      *child = parsed;
      return;
    }
    cur = child;
    start = dot + 1;
  }
}

std::string nearest(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(key, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
  if (best_d > limit) {
    // A prefix or substring relation still makes a useful hint ("lr" -> "lr_anneal").
    for (const auto& c : candidates)
      if (!key.empty() && (c.find(key) != std::string::npos || key.find(c) != std::string::npos)) return c;
    return "";
  }
  return best;
}

void Reader::finish() const {
  if (!node_.is_map()) return;
  for (const auto& kv : node_.map) {
    const std::string& key = kv.first;
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    if (std::find(ignore_.begin(), ignore_.end(), key) != ignore_.end()) continue;
    std::string msg = "config: unknown key '" + detail::join_path(path_, key) + "'" + where(kv.second);
    std::string near = nearest(key, known_);
    if (!near.empty()) {
      msg += "; did you mean '" + detail::join_path(path_, near) + "'?";
    } else {
      msg += "; valid keys here:";
      for (const auto& k : known_) msg += " " + k;
    }
    throw ConfigError(msg);
  }
}

std::string flow_text(const Node& n) {
  std::ostringstream os;
  switch (n.kind) {
    case Node::Kind::kNull: return "null";
    case Node::Kind::kScalar: detail::write_node(os, n, 0); break;
    case Node::Kind::kSequence:
      os << "[";
      for (std::size_t i = 0; i < n.items.size(); ++i) os << (i ? ", " : "") << flow_text(n.items[i]);
      os << "]";
      break;
    case Node::Kind::kMap:
      os << "{";
      for (std::size_t i = 0; i < n.map.size(); ++i) os << (i ? ", " : "") << n.map[i].first << ": " << flow_text(n.map[i].second);
      os << "}";
      break;
  }
  return os.str();
}

namespace detail {

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void type_error(const Node& node, const std::string& path, const std::string& expected) {
  std::string got;
  switch (node.kind) {
    case Node::Kind::kNull: got = "nothing"; break;
    case Node::Kind::kScalar: got = "'" + node.scalar + "'"; break;
    case Node::Kind::kSequence: got = "a list"; break;
    case Node::Kind::kMap: got = "a mapping"; break;
  }
  throw ConfigError("config: '" + path + "' expects " + expected + ", got " + got + where(node));
}

namespace {
const std::string& scalar_of(const Node& n, const std::string& path, const char* expected) {
  if (n.kind != Node::Kind::kScalar) type_error(n, path, expected);
  return n.scalar;
}

template <class T>
T parse_integer(const Node& n, const std::string& path) {
  const std::string& s = scalar_of(n, path, "an integer");
  errno = 0;
  char* end = nullptr;
  long long v = 0;
  if constexpr (std::is_unsigned_v<T>) {
    if (!s.empty() && s[0] == '-') type_error(n, path, "a non-negative integer");
    unsigned long long u = std::strtoull(s.c_str(), &end, 0);
    if (s.empty() || *end != '\0' || errno == ERANGE || u > std::numeric_limits<T>::max())
      type_error(n, path, "a non-negative integer");
    return static_cast<T>(u);
  } else {
    v = std::strtoll(s.c_str(), &end, 0);
    if (s.empty() || *end != '\0' || errno == ERANGE) {
      // Accept integral floats written in exponent form ("1e6").
      char* dend = nullptr;
      double d = std::strtod(s.c_str(), &dend);
      if (!s.empty() && *dend == '\0' && std::isfinite(d) && d == std::floor(d) &&
          std::fabs(d) <= static_cast<double>(std::numeric_limits<T>::max()))
        return static_cast<T>(d);
      type_error(n, path, "an integer");
    }
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
      type_error(n, path, "an integer in range");
    return static_cast<T>(v);
  }
}
}  // namespace

void read_scalar(const Node& n, const std::string& path, bool& out) {
  const std::string& s = scalar_of(n, path, "true or false");
  if (s == "true" || s == "True" || s == "yes" || s == "on") {
    out = true;
  } else if (s == "false" || s == "False" || s == "no" || s == "off") {
    out = false;
  } else {
    type_error(n, path, "true or false");
  }
}
void read_scalar(const Node& n, const std::string& path, int& out) { out = parse_integer<int>(n, path); }
void read_scalar(const Node& n, const std::string& path, std::int64_t& out) {
  out = parse_integer<std::int64_t>(n, path);
}
void read_scalar(const Node& n, const std::string& path, std::uint64_t& out) {
  out = parse_integer<std::uint64_t>(n, path);
}
void read_scalar(const Node& n, const std::string& path, double& out) {
  const std::string& s = scalar_of(n, path, "a number");
  if (s == ".inf" || s == "inf") { out = std::numeric_limits<double>::infinity(); return; }
  if (s == "-.inf" || s == "-inf") { out = -std::numeric_limits<double>::infinity(); return; }
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE || std::isnan(v)) type_error(n, path, "a number");
  out = v;
}
void read_scalar(const Node& n, const std::string& path, std::string& out) {
  out = scalar_of(n, path, "a string");
}

void write_scalar(std::ostream& os, bool v) { os << (v ? "true" : "false"); }
void write_scalar(std::ostream& os, int v) { os << v; }
void write_scalar(std::ostream& os, std::int64_t v) { os << v; }
void write_scalar(std::ostream& os, std::uint64_t v) { os << v; }
void write_scalar(std::ostream& os, double v) {
  if (std::isinf(v)) {
    os << (v > 0 ? ".inf" : "-.inf");
    return;
  }
  // Shortest representation that reads back to the same double.
  for (int prec = 6; prec <= 17; ++prec) {
    std::ostringstream s;
    s << std::setprecision(prec) << v;
    if (std::strtod(s.str().c_str(), nullptr) == v) {
      std::string out = s.str();
      // Keep floats recognisable as floats in YAML ("1" -> "1.0").
      if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
      os << out;
      return;
    }
  }
  os << std::setprecision(17) << v;
}
void write_scalar(std::ostream& os, const std::string& v) {
  os << '"';
  for (char c : v) {
    if (c == '"' || c == '\\') os << '\\' << c;
    else if (c == '\n') os << "\\n";
    else os << c;
  }
  os << '"';
}

void write_node(std::ostream& os, const Node& n, int indent) {
  if (n.kind == Node::Kind::kSequence) {
    os << flow_text(n);  // items in flow style too: a block mapping cannot sit inside [...]
    return;
  }
  switch (n.kind) {
    case Node::Kind::kNull: os << "null"; break;
    case Node::Kind::kScalar:
      if (n.quoted) write_scalar(os, n.scalar);
      else os << n.scalar;
      break;
    case Node::Kind::kSequence:
      os << "[";
      for (std::size_t i = 0; i < n.items.size(); ++i) {
        if (i) os << ", ";
        write_node(os, n.items[i], indent);
      }
      os << "]";
      break;
    case Node::Kind::kMap:
      if (n.map.empty()) {
        os << "{}";
        break;
      }
      for (const auto& kv : n.map) {
        os << std::string(static_cast<std::size_t>(indent), ' ') << kv.first << ":";
        if (kv.second.is_map() && !kv.second.map.empty()) {
          os << "\n";
          write_node(os, kv.second, indent + 2);
        } else {
          os << " ";
          write_node(os, kv.second, indent + 2);
          os << "\n";
        }
      }
      break;
  }
}

}  // namespace detail
}  // namespace mnemo::config
