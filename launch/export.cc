// `mnemo export`: policy tensors and metadata to safetensors, and back. See export.h.
#include "launch/export.h"

#include <iostream>
#include <type_traits>

#include "core/config.h"
#include "core/json.h"
#include "core/models/safetensors.h"
#include "core/version.h"
#include "launch/command.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

namespace {

// Writes an options struct as one JSON object through its visit(), so every model option,
// including ones added later, reaches the file without this code changing.
class JsonOptionsWriter {
 public:
  template <class T>
  void operator()(const char* key, const T& value, const char* /*help*/) {
    out_ += std::string(out_.size() > 1 ? ", " : "") + json::quote(key) + ": " + encode(value);
  }
  std::string finish() { return out_ + "}"; }

 private:
  static std::string encode(const std::string& v) { return json::quote(v); }
  static std::string encode(bool v) { return v ? "true" : "false"; }
  static std::string encode(std::int64_t v) { return std::to_string(v); }
  static std::string encode(double v) { return json::number(v); }
  template <class T>
  static std::string encode(const std::vector<T>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + encode(v[i]);
    return s + "]";
  }
  std::string out_ = "{";
};

// JSON -> config::Node, so that the model options are bound (and checked: unknown keys, wrong
// types) by the same code that reads them from a YAML config.
config::Node to_node(const json::Value& v, const std::string& origin) {
  config::Node n;
  n.origin = origin;
  switch (v.kind) {
    case json::Value::Kind::kNull: break;
    case json::Value::Kind::kBool:
      n.kind = config::Node::Kind::kScalar;
      n.scalar = v.boolean ? "true" : "false";
      break;
    case json::Value::Kind::kNumber:
      n.kind = config::Node::Kind::kScalar;
      n.scalar = v.text;
      break;
    case json::Value::Kind::kString:
      n.kind = config::Node::Kind::kScalar;
      n.scalar = v.text;
      n.quoted = true;
      break;
    case json::Value::Kind::kArray:
      n.kind = config::Node::Kind::kSequence;
      for (const auto& item : v.items) n.items.push_back(to_node(item, origin));
      break;
    case json::Value::Kind::kObject:
      n.kind = config::Node::Kind::kMap;
      for (const auto& [k, item] : v.members) n.map.emplace_back(k, to_node(item, origin));
      break;
  }
  return n;
}

const std::string& require(const std::map<std::string, std::string>& metadata, const char* key,
                           const fs::path& file) {
  auto it = metadata.find(key);
  if (it == metadata.end())
    throw Error(file.string() + ": no '" + key + "' in the safetensors metadata (not a policy exported by mnemo?)");
  return it->second;
}

Spec parse_obs_spec(const std::string& text, const std::string& origin) {
  const json::Value v = json::parse(text, origin);
  if (!v.is_array()) throw Error(origin + ": expected an array of {name, dtype, shape}");
  Spec spec;
  for (const auto& f : v.items) {
    const json::Value* name = f.find("name");
    const json::Value* dtype = f.find("dtype");
    const json::Value* shape = f.find("shape");
    if (!f.is_object() || name == nullptr || dtype == nullptr || shape == nullptr || !shape->is_array())
      throw Error(origin + ": expected an array of {name, dtype, shape}");
    FieldSpec field;
    field.name = name->as_string(origin + " name");
    auto d = dtype_from_name(dtype->as_string(origin + " dtype"));
    if (!d) throw Error(origin + ": unknown dtype '" + dtype->text + "'");
    field.dtype = *d;
    for (const auto& dim : shape->items) field.shape.push_back(dim.as_int64(origin + " shape"));
    spec.fields.push_back(std::move(field));
  }
  return spec;
}

ActionSpace parse_action_space(const std::string& text, const std::string& origin) {
  const json::Value v = json::parse(text, origin);
  const json::Value* kind = v.is_object() ? v.find("kind") : nullptr;
  if (kind == nullptr) throw Error(origin + ": expected an object with a 'kind'");
  auto field = [&](const char* key) -> const json::Value& {
    const json::Value* f = v.find(key);
    if (f == nullptr) throw Error(origin + ": missing '" + key + "'");
    return *f;
  };
  auto list = [&](const char* key, auto convert) {
    const json::Value& f = field(key);
    if (!f.is_array()) throw Error(origin + ": '" + key + "' must be an array");
    std::vector<decltype(convert(f))> out;
    for (const auto& x : f.items) out.push_back(convert(x));
    return out;
  };
  const std::string& k = kind->as_string(origin + " kind");
  try {
    if (k == "discrete") return ActionSpace::discrete(field("n").as_int64(origin + " n"));
    if (k == "box")
      return ActionSpace::box(list("low", [&](const json::Value& x) { return x.as_double(origin + " low"); }),
                              list("high", [&](const json::Value& x) { return x.as_double(origin + " high"); }));
    if (k == "multi_discrete")
      return ActionSpace::multi_discrete(
          list("nvec", [&](const json::Value& x) { return x.as_int64(origin + " nvec"); }));
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  throw Error(origin + ": unknown kind '" + k + "' (valid: discrete, box, multi_discrete)");
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> policy_tensors(torch::nn::Module& policy) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : policy.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : policy.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

std::string model_options_json(const nn::ModelOptions& options) {
  JsonOptionsWriter w;
  const_cast<nn::ModelOptions&>(options).visit(w);
  return w.finish();
}

std::string obs_spec_json(const Spec& spec) {
  std::string s = "[";
  for (std::size_t i = 0; i < spec.fields.size(); ++i) {
    const FieldSpec& f = spec.fields[i];
    s += std::string(i ? ", " : "") + "{\"name\": " + json::quote(f.name) + ", \"dtype\": " +
         json::quote(dtype_name(f.dtype)) + ", \"shape\": " + json::list(f.shape) + "}";
  }
  return s + "]";
}

std::string action_space_json(const ActionSpace& a) {
  switch (a.kind) {
    case ActionSpace::Kind::kDiscrete: return "{\"kind\": \"discrete\", \"n\": " + std::to_string(a.n) + "}";
    case ActionSpace::Kind::kBox:
      return "{\"kind\": \"box\", \"low\": " + json::list(a.low) + ", \"high\": " + json::list(a.high) + "}";
    case ActionSpace::Kind::kMultiDiscrete:
      return "{\"kind\": \"multi_discrete\", \"nvec\": " + json::list(a.nvec) + "}";
  }
  throw Error("unknown action space kind");
}

ExportResult export_policy(const std::string& source, const fs::path& out) {
  const fs::path parent = out.parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw ConfigError("--out " + out.string() + ": directory " + parent.string() + " does not exist");
  TrainedPolicy t = load_trained_policy(source, {});
  const auto tensors = policy_tensors(*t.policy);
  const config::Node* env = t.config.env.find("name");
  std::map<std::string, std::string> metadata = {
      {export_keys::kFormat, "pt"},
      {export_keys::kVersion, kVersion},
      {export_keys::kModel, model_options_json(t.config.model)},
      {export_keys::kObservation, obs_spec_json(t.obs_spec)},
      {export_keys::kAction, action_space_json(t.action_space)},
      {export_keys::kEnv, env != nullptr ? env->scalar : ""},
      {export_keys::kConfig, resolved_yaml(t.config)},
      {export_keys::kUpdates, std::to_string(t.updates)},
      {export_keys::kEnvSteps, std::to_string(t.env_steps)},
  };
  save_safetensors(out, tensors, metadata);
  ExportResult r;
  r.checkpoint = t.checkpoint_dir;
  r.tensors = tensors.size();
  for (const auto& [name, tensor] : tensors) r.values += tensor.numel();
  r.bytes = fs::file_size(out);
  return r;
}

ExportedPolicy load_exported_policy(const fs::path& file) {
  SafeTensors st = load_safetensors(file);
  ExportedPolicy e;
  e.metadata = st.metadata;
  const std::string origin = file.string() + " metadata ";
  try {
    const std::string& model = require(st.metadata, export_keys::kModel, file);
    config::bind(to_node(json::parse(model, origin + export_keys::kModel), origin + export_keys::kModel), "model",
                 e.model);
  } catch (const ConfigError& err) {
    throw Error(std::string(err.what()));  // a bad file, not bad user input
  }
  e.obs_spec =
      parse_obs_spec(require(st.metadata, export_keys::kObservation, file), origin + export_keys::kObservation);
  e.action_space = parse_action_space(require(st.metadata, export_keys::kAction, file), origin + export_keys::kAction);
  try {
    e.policy = nn::make_policy(e.model, e.obs_spec, e.action_space);
  } catch (const ConfigError& err) {
    throw Error(file.string() + ": cannot build the policy its metadata describes: " + err.what());
  }

  torch::NoGradGuard no_grad;
  std::size_t used = 0;
  for (auto& [name, target] : policy_tensors(*e.policy)) {
    const torch::Tensor& src = st.at(name);
    if (src.scalar_type() != target.scalar_type() || src.sizes() != target.sizes())
      throw Error(file.string() + ": tensor '" + name + "' is " + c10::toString(src.scalar_type()) +
                  shape_str(src.sizes().vec()) + " but the model needs " + c10::toString(target.scalar_type()) +
                  shape_str(target.sizes().vec()));
    target.copy_(src);
    ++used;
  }
  if (used != st.tensors.size()) {
    std::string extra;
    auto expected = policy_tensors(*e.policy);
    for (const auto& kv : st.tensors) {
      bool known = false;
      for (const auto& p : expected) known = known || p.first == kv.first;
      if (!known) extra += (extra.empty() ? "" : ", ") + kv.first;
    }
    throw Error(file.string() + ": tensors the model does not have: " + extra);
  }
  e.policy->eval();
  return e;
}

void export_command_line(CommandArgs& args, ExportArgs& a) {
  args.positional("RUN_DIR|CHECKPOINT_DIR", &a.source);
  args.flags()("out", text(&a.out, "FILE.safetensors"), "the file written (its directory must exist)");
  args.check([&a] {
    if (a.out.empty()) throw ConfigError("missing --out FILE.safetensors");
  });
}

int export_command(ExportArgs& a) {
  const ExportResult r = export_policy(a.source, a.out);
  std::cout << "exported " << r.checkpoint.string() << ": " << r.tensors << " tensors, " << r.values << " values, "
            << r.bytes << " bytes -> " << a.out << std::endl;
  return 0;
}

}  // namespace mnemo::launch
