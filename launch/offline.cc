#include "launch/offline.h"

#include <cmath>

#include "actors/rollout.h"
#include "core/models/safetensors.h"
#include "core/models/tensor.h"
#include "core/runlog/checkpoint.h"
#include "envs/env_pool.h"
#include "launch/train_config.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {

std::map<std::string, double> evaluate_dt(learners::DecisionTransformer model, const learners::DTOptions& options,
                                          const envs::EnvFactory& factory, std::int64_t episodes, std::int64_t envs,
                                          double target_return, std::uint64_t seed) {
  MNEMO_CHECK(episodes > 0 && envs > 0, "evaluate_dt: ", episodes, " episodes over ", envs, " envs");
  const std::int64_t n = std::min(envs, episodes);
  envs::EnvPoolOptions pool_options;
  pool_options.num_envs = n;
  pool_options.num_threads = 1;
  envs::EnvPool pool(pool_options, factory);
  const auto& names = pool.info_names();
  learners::DTActor actor(model, options, n, target_return, seed);
  actors::EpisodeQuotas quotas(episodes, n);
  std::vector<double> returns, lengths;
  std::vector<double> info_sums(names.size(), 0.0);
  actors::EpisodeHooks hooks;
  hooks.stepped = [&](const envs::StepBatch& b) {
    const auto ended =
        to_tensor(b.terminated).to(torch::kBool).logical_or(to_tensor(b.truncated).to(torch::kBool));
    actor.observe(to_tensor(b.reward), ended);
  };
  hooks.episode = [&](std::int64_t i, const envs::StepBatch& b) {
    returns.push_back(b.episode_return.data<float>()[i]);
    lengths.push_back(static_cast<double>(b.episode_length.data<std::int64_t>()[i]));
    const auto row = static_cast<std::size_t>(i) * names.size();
    for (std::size_t k = 0; k < names.size(); ++k) info_sums[k] += b.infos.data<float>()[row + k];
  };
  const auto act = [&](const envs::StepBatch& b) {
    std::vector<torch::Tensor> fields;
    for (const auto& f : b.obs) fields.push_back(to_tensor(f));
    return to_array(actor.act(nn::flatten_obs(fields, 1)).contiguous());
  };
  actors::run_episodes(pool, &pool.reset(seed), quotas, act, hooks);
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  const double m = mean(returns);
  double var = 0;
  for (double r : returns) var += (r - m) * (r - m);
  std::map<std::string, double> out{{"eval_return", m},
                                     {"eval_return_std", std::sqrt(var / static_cast<double>(returns.size()))},
                                     {"eval_length", mean(lengths)}};
  for (std::size_t k = 0; k < names.size(); ++k)
    out["eval_" + names[k]] = info_sums[k] / static_cast<double>(returns.size());
  return out;
}

bool is_offline_run(const std::string& path) {
  const Located where = locate_checkpoint(path);
  return load_train_config(where.config.string(), {}).learner.offline();
}

OfflineEvalResult evaluate_offline_run(const std::string& path, const std::vector<std::string>& overrides,
                                       std::int64_t episodes, std::int64_t envs, std::uint64_t seed, bool sample) {
  const Located where = locate_checkpoint(path);
  const TrainConfig c = load_train_config(where.config.string(), overrides);
  MNEMO_CHECK(c.learner.offline(), path, " is not an offline run");
  learners::DTOptions o = c.learner.dt;
  o.eval_sample = sample;
  o.device = "cpu";
  const auto factory = env_factory(c);
  auto probe = factory(0);
  learners::DTShape shape{probe->observation_spec(), probe->action_space(), c.learner.algo == "dt"};
  const StateFile state = StateFile::load(where.checkpoint / "state.bin");
  OfflineEvalResult r;
  r.checkpoint = where.checkpoint;
  r.updates = state.get_int("updates");
  r.target_return = std::stod(state.get_string("target_return"));
  // A run started from language-model weights has the LM's backbone size: read it from the
  // weights file the run used, as training did.
  if (!o.init_from.empty()) {
    nn::GPTOptions g = nn::gpt2_options(load_safetensors(o.init_from), o.gpt.n_head);
    g.dropout = o.gpt.dropout;
    if (o.lm_weight == 0) g.vocab_size = 0;
    o.gpt = g;
  }
  learners::DecisionTransformer model(o, shape);
  try {
    torch::serialize::InputArchive ar;
    ar.load_from((where.checkpoint / "model.pt").string(), torch::kCPU);
    model->load(ar);
  } catch (const c10::Error& e) {
    throw ConfigError("the weights in " + (where.checkpoint / "model.pt").string() + " do not fit the " +
                      c.learner.algo + " model for " + shape.obs_spec.str() + " and " + shape.action_space.str());
  }
  r.metrics = evaluate_dt(model, o, factory, episodes, envs, r.target_return, seed);
  return r;
}

}  // namespace mnemo::launch
