#include "actors/evaluator.h"

#include <chrono>
#include <limits>
#include <map>
#include <thread>

#include "actors/rollout.h"
#include "core/check.h"
#include "core/log.h"
#include "core/net/params.h"

namespace mnemo::actors {

void EvaluatorOptions::validate() const {
  if (every < 0) throw ConfigError("evaluator.every must be >= 0 (0: no evaluator)");
  if (episodes < 1) throw ConfigError("evaluator.episodes must be at least 1");
  if (envs < 0) throw ConfigError("evaluator.envs must be >= 0 (0: min(episodes, 8))");
}

namespace {

// Mean return and infos of `episodes` episodes of `policy`.
std::map<std::string, double> evaluate_once(const EvaluatorContext& ctx, std::shared_ptr<nn::PolicyImpl> policy,
                                            envs::EnvPool& pool) {
  const auto& o = ctx.options;
  const auto M = static_cast<std::int64_t>(pool.num_envs());
  EpisodeQuotas quotas(o.episodes, M);
  const auto& names = pool.info_names();
  std::vector<double> sums(names.size(), 0.0);
  double return_sum = 0;
  const envs::StepBatch* batch = &pool.reset(envs::splitmix64(ctx.seed + 1000));
  PolicyRunner runner(std::move(policy), pool.action_space(), M, o.stochastic,
                      nn::make_generator(envs::splitmix64(ctx.seed + 2000)));
  EpisodeHooks hooks;
  hooks.episode = [&](std::int64_t i, const envs::StepBatch& b) {
    return_sum += b.episode_return.data<float>()[i];
    for (std::size_t k = 0; k < names.size(); ++k)
      sums[k] += b.infos.data<float>()[static_cast<std::size_t>(i) * names.size() + k];
  };
  run_episodes(pool, batch, quotas, [&](const envs::StepBatch& b) { return runner.act(b); }, hooks);
  const double n = static_cast<double>(o.episodes);
  std::map<std::string, double> out{{"return", return_sum / n}};
  for (std::size_t k = 0; k < names.size(); ++k) out[names[k]] = sums[k] / n;
  return out;
}

}  // namespace

std::int64_t run_evaluator(const EvaluatorContext& ctx) {
  const auto& o = ctx.options;
  o.validate();
  MNEMO_CHECK(o.every > 0, "run_evaluator needs evaluator.every > 0");
  envs::EnvPoolOptions pool_options;
  pool_options.num_envs = std::min(o.envs > 0 ? o.envs : std::int64_t{8}, o.episodes);
  envs::EnvPool pool(pool_options, ctx.env_factory);
  auto policy = nn::make_policy(ctx.model, pool.observation_spec(), pool.action_space());
  policy->eval();
  ParameterClient params(ctx.params_endpoint, ctx.param_timeout_ms, ctx.param_curve);
  std::int64_t version = -1, evaluated = -1, reports = 0;
  while (ctx.stop == nullptr || !ctx.stop->load()) {
    FetchedParams p = params.fetch(version);
    if (p.params.defined() && p.params.numel() > 0) {
      nn::load_flat_parameters(*policy, p.params);
      version = p.version;
    }
    // Every `every` updates counted from the session's first version, and that one too; at the
    // stop, the final parameters (the learner waits for that report).
    const bool due = version >= 0 && (evaluated < 0 || version - evaluated >= o.every || (p.stop && version > evaluated));
    if (p.stop && !due) break;
    if (!due) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::map<std::string, double> result;
    {
      torch::InferenceMode guard;
      result = evaluate_once(ctx, policy, pool);
    }
    evaluated = version;
    params.report(version, result);
    ++reports;
    MNEMO_INFO("evaluation at update ", version, ": return ", result["return"], " over ", o.episodes, " episodes");
    if (p.stop) break;
  }
  return reports;
}

}  // namespace mnemo::actors
