#include "launch/train_config.h"

#include <sstream>

#include "core/log.h"

namespace mnemo::launch {
namespace {

std::string env_name(const config::Node& env) {
  const config::Node* n = env.find("name");
  if (n == nullptr || n->kind != config::Node::Kind::kScalar)
    throw ConfigError("config: 'env.name' is required (one of: " + envs::registered_env_names() + ")");
  return n->scalar;
}

}  // namespace

// Makes one env from the section, binding its typed options (unknown keys are errors).
std::unique_ptr<envs::Env> make_env_from(const config::Node& env) {
  return envs::make_env(env_name(env), [&](auto& options) { config::bind(env, "env", options, {"name"}); });
}

// The env section with every option of the named env resolved to its value.
config::Node resolved_env(const config::Node& env) {
  std::string name = env_name(env);
  std::string yaml;
  envs::make_env(name, [&](auto& options) {
    config::bind(env, "env", options, {"name"});
    yaml = config::to_yaml(options);
  });
  config::Node out = config::parse_yaml("name: \"" + name + "\"\n" + yaml, "resolved env");
  return out;
}

namespace {

void validate(TrainConfig& c) {
  c.run.validate();
  if (c.env.kind == config::Node::Kind::kNull) c.env = config::parse_yaml("name: cartpole", "default");
  if (!c.env.is_map()) throw ConfigError("config: 'env' must be a mapping with a 'name'");
  make_env_from(c.env);  // binds and validates the env's options
  c.actor.validate();
  c.evaluator.validate();
  if (c.topology.evaluator && c.evaluator.every == 0)
    throw ConfigError("config: topology.evaluator needs evaluator.every > 0 (updates between evaluations)");
  c.learner.validate();
  c.replay.server.validate();
  c.replay.client.validate();
  c.topology.validate();
}

}  // namespace



void RunOptions::validate() const {
  log::parse_level(log_level);
  if (name.empty() || name.find('/') != std::string::npos)
    throw ConfigError("config: run.name must be a non-empty name without '/'");
  if (torch_threads < 1) throw ConfigError("config: run.torch_threads must be at least 1");
  if (transport != "inproc" && transport != "tcp")
    throw ConfigError("config: run.transport must be inproc or tcp, got '" + transport + "'");
  if (blas_threads < 1) throw ConfigError("config: run.blas_threads must be at least 1");
}

namespace {

TrainConfig bind_train_config(config::Node root, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) config::apply_override(root, o);
  TrainConfig c;
  c.env = config::parse_yaml("name: cartpole", "default");
  config::bind(root, "", c);
  validate(c);
  return c;
}

}  // namespace

TrainConfig load_train_config_text(const std::string& yaml, const std::string& origin,
                                   const std::vector<std::string>& overrides) {
  config::Node root = config::parse_yaml(yaml, origin);
  if (!root.is_map()) throw ConfigError("config: " + origin + " must be a YAML mapping");
  return bind_train_config(std::move(root), overrides);
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  return bind_train_config(config::load_file(path), overrides);
}

std::string resolved_yaml(const TrainConfig& c) {
  TrainConfig copy = c;
  copy.env = resolved_env(c.env);
  return "# mnemo resolved training config\n" + config::to_yaml(copy);
}

envs::EnvFactory env_factory(const TrainConfig& c) {
  config::Node env = c.env;
  return [env](std::size_t) { return make_env_from(env); };
}

}  // namespace mnemo::launch
