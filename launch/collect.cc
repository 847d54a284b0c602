// `mnemo collect`: the collection loop over an EnvPool, the dataset it builds and the command's
// arguments. See collect.h.
#include "launch/collect.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>

#include "actors/rollout.h"
#include "core/json.h"
#include "core/runlog/metrics.h"
#include "core/version.h"
#include "envs/env_pool.h"
#include "envs/experts.h"
#include "launch/command.h"
#include "launch/train.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kDefaultMaxEnvs = 8;

bool is_trained(const std::string& policy) { return policy != "random" && policy != "scripted"; }

bool same_space(const ActionSpace& a, const ActionSpace& b) {
  return a.kind == b.kind && a.n == b.n && a.low == b.low && a.high == b.high && a.nvec == b.nvec;
}

// How observations are stored: one field keeps its shape (float32 unless uint8); several fields
// are flattened and concatenated into one vector.
struct ObsLayout {
  DType dtype = DType::kFloat32;
  Shape item;                           // per-step shape in the dataset
  std::vector<std::size_t> field_bytes; // bytes of one row of each field in the batch
  std::vector<std::int64_t> field_numel;
  std::vector<DType> field_dtype;
  std::size_t row_bytes = 0;            // bytes of one dataset row
  std::string description;              // for metadata, when fields were concatenated

  explicit ObsLayout(const Spec& spec) {
    bool all_uint8 = true;
    std::int64_t total = 0;
    for (const auto& f : spec.fields) {
      const std::int64_t n = shape_numel(f.shape);
      field_numel.push_back(n);
      field_dtype.push_back(f.dtype);
      field_bytes.push_back(static_cast<std::size_t>(n) * dtype_size(f.dtype));
      total += n;
      all_uint8 = all_uint8 && f.dtype == DType::kUInt8;
    }
    dtype = all_uint8 ? DType::kUInt8 : DType::kFloat32;
    if (spec.fields.size() == 1) {
      item = spec.fields[0].shape;
    } else {
      item = {total};
      description = "fields flattened and concatenated in this order: " + spec.str();
    }
    row_bytes = static_cast<std::size_t>(total) * dtype_size(dtype);
  }

  // Writes row `row` of the per-field batch arrays `fields` as one dataset row at `dst`.
  void write_row(const std::vector<Array>& fields, std::size_t row, char* dst) const {
    for (std::size_t f = 0; f < fields.size(); ++f) {
      const char* src = static_cast<const char*>(fields[f].raw()) + row * field_bytes[f];
      if (dtype == DType::kUInt8 || field_dtype[f] == DType::kFloat32) {
        std::memcpy(dst, src, field_bytes[f]);
        dst += field_bytes[f];
        continue;
      }
      float* out = reinterpret_cast<float*>(dst);
      for (std::int64_t i = 0; i < field_numel[f]; ++i) out[i] = element(src, field_dtype[f], i);
      dst += static_cast<std::size_t>(field_numel[f]) * sizeof(float);
    }
  }

 private:
  static float element(const char* p, DType d, std::int64_t i) {
    switch (d) {
      case DType::kUInt8: return static_cast<float>(reinterpret_cast<const std::uint8_t*>(p)[i]);
      case DType::kBool: return reinterpret_cast<const bool*>(p)[i] ? 1.0f : 0.0f;
      case DType::kInt32: return static_cast<float>(reinterpret_cast<const std::int32_t*>(p)[i]);
      case DType::kInt64: return static_cast<float>(reinterpret_cast<const std::int64_t*>(p)[i]);
      case DType::kFloat32: return reinterpret_cast<const float*>(p)[i];
      case DType::kFloat64: return static_cast<float>(reinterpret_cast<const double*>(p)[i]);
    }
    return 0.0f;
  }
};

// One env's episode as it is being recorded, then stored once complete.
struct EpisodeBuffer {
  std::vector<char> obs;       // row_bytes per step
  std::vector<char> actions;   // action bytes per step
  std::vector<float> rewards;
  std::vector<std::uint8_t> terminals, timeouts;
  std::vector<float> infos;    // num_infos per step
  std::vector<char> final_obs; // one row
  std::int64_t length() const { return static_cast<std::int64_t>(rewards.size()); }
};

// Where the actions come from.
class Behaviour {
 public:
  virtual ~Behaviour() = default;
  virtual Array act(const envs::StepBatch& batch, envs::EnvPool& pool) = 0;
};

class RandomBehaviour : public Behaviour {
 public:
  RandomBehaviour(const ActionSpace& space, std::int64_t num_envs, std::uint64_t seed)
      : space_(space), rng_(envs::splitmix64(seed ^ 0x72616E646F6D2121ULL)) {  // "random!!"
    const FieldSpec f = space.field();
    Shape shape = f.shape;
    shape.insert(shape.begin(), num_envs);
    actions_ = Array::zeros(f.dtype, shape);
    row_bytes_ = actions_.nbytes() / static_cast<std::size_t>(num_envs);
  }
  Array act(const envs::StepBatch& batch, envs::EnvPool&) override {
    for (std::int64_t i = 0; i < batch.size(); ++i)
      envs::sample_action(space_, rng_, static_cast<char*>(actions_.raw()) + static_cast<std::size_t>(i) * row_bytes_);
    return actions_;
  }

 private:
  ActionSpace space_;
  envs::Rng rng_;
  Array actions_;
  std::size_t row_bytes_ = 0;
};

class ScriptedBehaviour : public Behaviour {
 public:
  ScriptedBehaviour(std::unique_ptr<envs::Expert> expert, const ActionSpace& space, std::int64_t num_envs)
      : expert_(std::move(expert)) {
    const FieldSpec f = space.field();
    Shape shape = f.shape;
    shape.insert(shape.begin(), num_envs);
    actions_ = Array::zeros(f.dtype, shape);
    row_bytes_ = actions_.nbytes() / static_cast<std::size_t>(num_envs);
  }
  Array act(const envs::StepBatch& batch, envs::EnvPool& pool) override {
    // Synchronous pool: row i is env i, and each env's state is the one its row observes.
    for (std::int64_t i = 0; i < batch.size(); ++i)
      expert_->act(pool.env(static_cast<std::size_t>(i)),
                   static_cast<char*>(actions_.raw()) + static_cast<std::size_t>(i) * row_bytes_);
    return actions_;
  }

 private:
  std::unique_ptr<envs::Expert> expert_;
  Array actions_;
  std::size_t row_bytes_ = 0;
};

class TrainedBehaviour : public Behaviour {
 public:
  explicit TrainedBehaviour(actors::PolicyRunner runner) : runner_(std::move(runner)) {}
  Array act(const envs::StepBatch& batch, envs::EnvPool&) override { return runner_.act(batch); }

 private:
  actors::PolicyRunner runner_;
};

template <class T>
void append(std::vector<T>& v, const void* p, std::size_t bytes) {
  const auto* b = static_cast<const T*>(p);
  v.insert(v.end(), b, b + bytes / sizeof(T));
}

// Copies `bytes` of `src` to the destination array at byte offset `at` and advances it.
void put(const Array& dst, std::size_t& at, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  std::memcpy(static_cast<char*>(dst.raw()) + at, src, bytes);
  at += bytes;
}

}  // namespace

void CollectOptions::validate() const {
  if (policy.empty()) throw ConfigError("missing --policy random|scripted|RUN_DIR|CHECKPOINT_DIR");
  if (!is_trained(policy) && config.empty())
    throw ConfigError("--policy " + policy + " needs a CONFIG (the training config whose env is run)");
  if (!is_trained(policy) && stochastic) throw ConfigError("--stochastic applies to trained policies only");
  if (episodes < 1 || episodes > 10'000'000)
    throw ConfigError("--episodes must be in [1, 10000000], got " + std::to_string(episodes));
  if (envs < 0 || envs > 4096) throw ConfigError("--envs must be in [1, 4096], got " + std::to_string(envs));
  if (format != "d4rl" && format != "minari")
    throw ConfigError("--format must be d4rl or minari, got '" + format + "'");
  if (out.empty()) throw ConfigError("missing --out FILE");
  // Checked before the episodes run, so a typo does not cost the whole collection.
  std::error_code ec;
  const bool directory = fs::is_directory(out, ec) || out.back() == '/';
  if (directory && format == "d4rl")
    throw ConfigError("--out " + out + " is a directory; D4RL datasets are one file");
  const fs::path parent = fs::path(out).parent_path();
  if (!directory && !parent.empty() && !fs::is_directory(parent, ec))  // a Minari DIR/ is created
    throw ConfigError("--out " + out + ": directory " + parent.string() + " does not exist");
}

std::uint64_t collect_pool_seed(std::uint64_t seed) {
  return envs::splitmix64(seed ^ 0x636F6C6C65637421ULL);  // "collect!"
}

CollectResult collect(const CollectOptions& options) {
  options.validate();

  // The config whose env is run, and the behaviour policy.
  std::optional<TrainedPolicy> trained;
  TrainConfig c;
  if (is_trained(options.policy)) {
    // With a CONFIG the overrides are its own; without, they apply to the checkpoint's config.
    trained = load_trained_policy(options.policy, options.config.empty() ? options.overrides : std::vector<std::string>{});
    c = options.config.empty() ? trained->config : load_train_config(options.config, options.overrides);
  } else {
    c = load_train_config(options.config, options.overrides);
  }
  const std::string env = config_env_name(c);
  std::unique_ptr<envs::Expert> expert;
  if (options.policy == "scripted") expert = envs::make_expert(env);  // ConfigError listing the envs with one
  set_threads(c.run);

  const std::uint64_t seed = options.seed.value_or(c.run.seed);
  const std::int64_t N = options.episodes;
  const std::int64_t M = std::min(options.envs > 0 ? options.envs : kDefaultMaxEnvs, N);
  envs::EnvPoolOptions pool_options;
  pool_options.num_envs = M;
  // Synchronous pool: results do not depend on the thread count.
  pool_options.num_threads = std::min(c.actor.env_threads, M);
  envs::EnvPool pool(pool_options, env_factory(c));
  const Spec& spec = pool.observation_spec();
  const ActionSpace& space = pool.action_space();
  if (trained && (!(trained->obs_spec == spec) || !same_space(trained->action_space, space)))
    throw ConfigError("the env of " + options.config + " (observation " + spec.str() + ", action space " + space.str() +
                      ") does not fit the policy of " + options.policy + " (observation " + trained->obs_spec.str() +
                      ", action space " + trained->action_space.str() + ")");

  std::unique_ptr<Behaviour> behaviour;
  if (options.policy == "random") {
    behaviour = std::make_unique<RandomBehaviour>(space, M, seed);
  } else if (options.policy == "scripted") {
    behaviour = std::make_unique<ScriptedBehaviour>(std::move(expert), space, M);
  } else {
    behaviour = std::make_unique<TrainedBehaviour>(actors::PolicyRunner(
        trained->policy, space, M, options.stochastic, nn::make_generator(envs::splitmix64(seed ^ 0x706F6C6963792121ULL))));
  }

  const ObsLayout layout(spec);
  const FieldSpec action_field = space.field();
  const std::size_t action_bytes = static_cast<std::size_t>(shape_numel(action_field.shape)) * dtype_size(action_field.dtype);
  const std::vector<std::string> info_names = pool.info_names();
  const std::size_t num_infos = info_names.size();

  actors::EpisodeQuotas quotas(N, M);
  std::vector<EpisodeBuffer> current(static_cast<std::size_t>(M));
  std::vector<std::vector<EpisodeBuffer>> done(static_cast<std::size_t>(M));

  const envs::StepBatch* batch = &pool.reset(collect_pool_seed(seed));
  ProgressLine progress(1.0, stderr);
  std::int64_t transitions = 0;
  double return_sum = 0;
  const auto start = std::chrono::steady_clock::now();
  actors::EpisodeHooks hooks;
  hooks.acted = [&](const envs::StepBatch& b, const Array& actions) {
    for (std::int64_t i = 0; i < M; ++i) {
      if (!quotas.recording(i)) continue;  // this env's episodes are all recorded
      const auto e = static_cast<std::size_t>(i);
      EpisodeBuffer& ep = current[e];
      const std::size_t at = ep.obs.size();
      ep.obs.resize(at + layout.row_bytes);
      layout.write_row(b.obs, e, ep.obs.data() + at);
      append(ep.actions, static_cast<const char*>(actions.raw()) + e * action_bytes, action_bytes);
    }
  };
  hooks.stepped = [&](const envs::StepBatch& b) {
    const float* reward = b.reward.data<float>();
    const std::uint8_t* term = b.terminated.data<std::uint8_t>();
    const std::uint8_t* trunc = b.truncated.data<std::uint8_t>();
    const float* infos = num_infos > 0 ? b.infos.data<float>() : nullptr;
    for (std::int64_t i = 0; i < M; ++i) {
      if (!quotas.recording(i)) continue;
      const auto e = static_cast<std::size_t>(i);
      EpisodeBuffer& ep = current[e];
      ep.rewards.push_back(reward[i]);
      ep.terminals.push_back(term[i] != 0);
      ep.timeouts.push_back(term[i] == 0 && trunc[i] != 0);
      if (num_infos > 0) append(ep.infos, infos + e * num_infos, num_infos * sizeof(float));
    }
  };
  hooks.episode = [&](std::int64_t i, const envs::StepBatch& b) {
    const auto e = static_cast<std::size_t>(i);
    EpisodeBuffer& ep = current[e];
    ep.final_obs.resize(layout.row_bytes);
    layout.write_row(b.final_obs, e, ep.final_obs.data());
    transitions += ep.length();
    return_sum += b.episode_return.data<float>()[i];
    done[e].push_back(std::move(ep));
    ep = EpisodeBuffer{};
  };
  hooks.progress = [&](const actors::EpisodeQuotas& q) {
    if (!options.progress || !progress.due()) return;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (secs < 1.0) return;
    std::vector<ProgressItem> items = {{"{}/" + std::to_string(N) + " episodes", static_cast<double>(q.done()), "count"},
                                       {"{} transitions", static_cast<double>(transitions), "count"}};
    if (q.done() > 0) items.push_back({"return", return_sum / static_cast<double>(q.done()), "%.2f"});
    progress.update(items);
  };
  actors::run_episodes(pool, batch, quotas, [&](const envs::StepBatch& b) { return behaviour->act(b, pool); }, hooks);
  progress.finish();

  // The dataset: episodes by env, then in the order they finished.
  CollectResult result;
  replay::Dataset& out = result.dataset;
  auto rows = [](std::int64_t n, const Shape& item) {
    Shape s = item;
    s.insert(s.begin(), n);
    return s;
  };
  out.observations = Array::zeros(layout.dtype, rows(transitions, layout.item));
  out.final_observations = Array::zeros(layout.dtype, rows(N, layout.item));
  out.actions = Array::zeros(action_field.dtype, rows(transitions, action_field.shape));
  out.rewards = Array::zeros(DType::kFloat32, {transitions});
  out.terminals = Array::zeros(DType::kBool, {transitions});
  out.timeouts = Array::zeros(DType::kBool, {transitions});
  std::vector<Array> info_arrays;
  for (const auto& name : info_names) info_arrays.push_back(out.infos[name] = Array::zeros(DType::kFloat32, {transitions}));
  std::size_t at_obs = 0, at_final = 0, at_act = 0;
  std::int64_t t = 0;
  for (auto& eps : done) {
    for (EpisodeBuffer& ep : eps) {
      put(out.observations, at_obs, ep.obs.data(), ep.obs.size());
      put(out.final_observations, at_final, ep.final_obs.data(), ep.final_obs.size());
      put(out.actions, at_act, ep.actions.data(), ep.actions.size());
      for (std::int64_t k = 0; k < ep.length(); ++k, ++t) {
        const auto s = static_cast<std::size_t>(k);
        out.rewards.data<float>()[t] = ep.rewards[s];
        out.terminals.data<bool>()[t] = ep.terminals[s] != 0;
        out.timeouts.data<bool>()[t] = ep.timeouts[s] != 0;
        for (std::size_t j = 0; j < num_infos; ++j) info_arrays[j].data<float>()[t] = ep.infos[s * num_infos + j];
      }
      ep = EpisodeBuffer{};  // free as we go: the dataset now holds it
    }
  }
  MNEMO_CHECK(t == transitions, "assembled ", t, " of ", transitions, " transitions");

  result.env = env;
  result.policy = is_trained(options.policy) ? "checkpoint" : options.policy;
  result.seed = seed;
  result.num_envs = M;
  result.mean_return = return_sum / static_cast<double>(N);
  auto& m = out.metadata;
  m["env"] = env;
  m["policy"] = result.policy;
  if (trained) {
    m["checkpoint"] = trained->checkpoint_dir.string();
    m["checkpoint_updates"] = std::to_string(trained->updates);
    m["stochastic"] = options.stochastic ? "true" : "false";
  }
  m["episodes"] = std::to_string(N);
  m["seed"] = std::to_string(seed);
  m["mnemo_version"] = kVersion;
  m["observation_spec"] = spec.str();
  if (!layout.description.empty()) m["observation_layout"] = layout.description;
  m["action_space"] = space.str();
  result.action_space = space;
  m["config"] = resolved_yaml(c);
  out.validate();
  return result;
}

namespace {

// The action space as Minari serializes it (minari.serialization.serialize_space), bounds included.
std::string minari_action_space(const ActionSpace& a) {
  switch (a.kind) {
    case ActionSpace::Kind::kDiscrete:
      return "{\"type\": \"Discrete\", \"dtype\": \"int64\", \"start\": 0, \"n\": " + std::to_string(a.n) + "}";
    case ActionSpace::Kind::kBox:
      return "{\"type\": \"Box\", \"dtype\": \"float32\", \"shape\": [" + std::to_string(a.low.size()) +
             "], \"low\": " + json::list(a.low) + ", \"high\": " + json::list(a.high) + "}";
    case ActionSpace::Kind::kMultiDiscrete:
      return "{\"type\": \"MultiDiscrete\", \"dtype\": \"int64\", \"nvec\": " + json::list(a.nvec) + ", \"start\": " +
             json::list(std::vector<std::int64_t>(a.nvec.size(), 0)) + "}";
  }
  throw Error("unknown action space kind");
}

}  // namespace

CollectResult collect_and_write(const CollectOptions& options) {
  CollectResult r = collect(options);
  if (options.format == "minari")
    replay::write_minari(options.out, r.dataset, minari_action_space(r.action_space));
  else
    replay::write_d4rl(options.out, r.dataset);
  return r;
}

void collect_command_line(CommandArgs& args, CollectOptions& o) {
  args.optional_positional("CONFIG", &o.config);
  args.flags()
      ("policy", text(&o.policy, "POLICY"),
       "random (uniform actions), scripted (the env's expert), or a trained policy's RUN_DIR|CHECKPOINT_DIR")
      ("episodes", integer(&o.episodes), "complete episodes to record")
      ("out", text(&o.out, "FILE"), "the dataset written")
      ("format", text(&o.format, "d4rl|minari"), "file layout (default d4rl)")
      ("envs", integer(&o.envs, "M"), "envs stepped together (default min(N, 8))")
      ("seed", integer(&o.seed, "S"), "seed of the env episodes (default: the config's run.seed)")
      ("stochastic", flag(&o.stochastic), "a trained policy samples its actions instead of taking the mode")
      ("set", repeated(&o.overrides, "KEY=VALUE"),
       "override a key of CONFIG (of the checkpoint's config without one); repeatable");
  args.check([&args, &o] {
    if (args.given("envs") && o.envs < 1) throw ConfigError("--envs must be at least 1, got " + std::to_string(o.envs));
    o.validate();
  });
}

int collect_command(CollectOptions& o) {
  o.progress = true;
  const CollectResult r = collect_and_write(o);
  const replay::DatasetStats s = replay::dataset_stats(r.dataset);
  std::cout << "collected " << s.episodes << " episodes (" << s.transitions << " transitions) of " << r.env
            << " with the " << r.policy << " policy, seed " << r.seed << ", " << r.num_envs << " envs\n"
            << "return mean " << s.mean_return << ", min " << s.min_return << ", max " << s.max_return
            << "; length mean " << s.mean_length << "\n"
            << "wrote " << o.out << " (" << o.format << ")" << std::endl;
  return 0;
}

}  // namespace mnemo::launch
