// Registry listing: walks RegisteredEnvs once and describes each env's options through their
// visit(), so the listing always shows the defaults that code actually uses.
#include "envs/registry.h"

#include <sstream>
#include <type_traits>
#include <utility>

namespace mnemo::envs {
namespace {

class DocVisitor;

// Option structs nest: a member with its own visit() is a section, not a value.
template <class T, class = void>
struct IsSection : std::false_type {};
template <class T>
struct IsSection<T, std::void_t<decltype(std::declval<T&>().visit(std::declval<DocVisitor&>()))>>
    : std::true_type {};

// Describes a field for the listing: its YAML-ish type name and default.
template <class T>
struct Describe;
template <>
struct Describe<bool> {
  static std::string type() { return "bool"; }
  static std::string value(bool v) { return v ? "true" : "false"; }
};
template <>
struct Describe<int> {
  static std::string type() { return "int"; }
  static std::string value(int v) { return std::to_string(v); }
};
template <>
struct Describe<std::int64_t> {
  static std::string type() { return "int64"; }
  static std::string value(std::int64_t v) { return std::to_string(v); }
};
template <>
struct Describe<std::uint64_t> {
  static std::string type() { return "uint64"; }
  static std::string value(std::uint64_t v) { return std::to_string(v); }
};
template <>
struct Describe<double> {
  static std::string type() { return "double"; }
  static std::string value(double v) {
    std::ostringstream os;
    os.precision(17);
    os << v;
    return os.str();
  }
};
template <>
struct Describe<std::string> {
  static std::string type() { return "string"; }
  static std::string value(const std::string& v) { return "\"" + v + "\""; }
};
template <>
struct Describe<config::Node> {
  static std::string type() { return "map"; }
  static std::string value(const config::Node& v) { return v.kind == config::Node::Kind::kNull ? "{}" : config::flow_text(v); }
};
template <class T>
struct Describe<std::vector<T>> {
  static std::string type() { return "list<" + Describe<T>::type() + ">"; }
  static std::string value(const std::vector<T>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + Describe<T>::value(v[i]);
    return s + "]";
  }
};

// The options visitor that records instead of binding; nested option structs are flattened into
// dotted keys, the way `--set env.a.b=...` addresses them.
class DocVisitor {
 public:
  DocVisitor(std::vector<OptionDoc>& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}

  template <class T>
  void operator()(const char* key, T& value, const char* help) {
    if constexpr (IsSection<T>::value) {
      (void)help;
      DocVisitor nested(out_, prefix_ + key + ".");
      value.visit(nested);
    } else {
      out_.push_back({prefix_ + key, Describe<T>::type(), Describe<T>::value(value), help});
    }
  }

 private:
  std::vector<OptionDoc>& out_;
  std::string prefix_;
};

template <class... E>
std::vector<EnvInfo> describe(EnvList<E...>) {
  std::vector<EnvInfo> infos;
  auto add = [&infos](auto tag) {
    using Env = typename decltype(tag)::type;
    EnvInfo info{Env::kName, Env::kDescription, {}};
    typename Env::Options defaults;
    DocVisitor v(info.options, "");
    defaults.visit(v);
    infos.push_back(std::move(info));
  };
  (add(std::common_type<E>{}), ...);
  return infos;
}

}  // namespace

const std::vector<EnvInfo>& registered_envs() {
  static const std::vector<EnvInfo> infos = describe(RegisteredEnvs{});
  return infos;
}

const std::vector<EnvInfo>& bridge_envs() {
  static const std::vector<EnvInfo> infos = describe(BridgeEnvs{});
  return infos;
}

std::string registered_env_names() {
  std::string s;
  for (const auto& e : registered_envs()) s += (s.empty() ? "" : ", ") + e.name;
  for (const auto& e : bridge_envs()) s += ", " + e.name;
  return s;
}

void throw_unknown_env(const std::string& name) {
  throw ConfigError("unknown env '" + name + "'; valid env names are: " + registered_env_names());
}

std::unique_ptr<Env> make_env(const std::string& name) {
  return make_env(name, [](auto&) {});
}

}  // namespace mnemo::envs
