// Tests of the Decision Transformer: causal and padding masks, window sampling, the acting
// loop's return-to-go bookkeeping, return conditioning, %BC and the offline trainer's resume.
#include "learners/dt.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/check.h"
#include "learners/offline_trainer.h"
#include "replay/datasets/dataset.h"

namespace mnemo::learners {
namespace {

namespace fs = std::filesystem;

DTOptions small_options(std::int64_t context = 4) {
  DTOptions o;
  o.dataset = "unused.h5";
  o.context = context;
  o.gpt.n_layer = 2;
  o.gpt.n_head = 2;
  o.gpt.n_embd = 16;
  o.gpt.n_positions = 64;
  o.gpt.dropout = 0.0;
  o.max_ep_len = 32;
  o.rtg_scale = 1.0;
  return o;
}

DTShape vector_shape(std::int64_t obs_dim, ActionSpace space, bool condition = true) {
  DTShape s;
  s.obs_spec.fields.push_back({"obs", DType::kFloat32, {obs_dim}});
  s.action_space = std::move(space);
  s.condition_on_return = condition;
  return s;
}

// Episodes given as (length, per-step reward, action), states 0.1 * t in every dimension.
replay::Dataset dataset_of(const std::vector<std::tuple<std::int64_t, float, std::int64_t>>& episodes,
                           std::int64_t obs_dim = 2) {
  std::vector<float> obs, rewards;
  std::vector<std::int64_t> actions;
  std::vector<std::uint8_t> terminals, timeouts;
  for (const auto& [len, r, a] : episodes)
    for (std::int64_t t = 0; t < len; ++t) {
      for (std::int64_t k = 0; k < obs_dim; ++k) obs.push_back(0.1f * static_cast<float>(t));
      rewards.push_back(r);
      actions.push_back(a);
      terminals.push_back(t + 1 == len ? 1 : 0);
      timeouts.push_back(0);
    }
  const auto n = static_cast<std::int64_t>(rewards.size());
  replay::Dataset d;
  d.observations = Array::from_vector(obs, {n, obs_dim});
  d.actions = Array::from_vector(actions, {n});
  d.rewards = Array::from_vector(rewards, {n});
  // Flags are bools in a Dataset: the same bytes as uint8 0/1.
  auto flags = [n](const std::vector<std::uint8_t>& v) {
    Array a = Array::from_vector(v, {n});
    return Array::wrap(DType::kBool, {n}, a.raw(), a.owner());
  };
  d.terminals = flags(terminals);
  d.timeouts = flags(timeouts);
  return d;
}

DTBatch random_batch(std::int64_t B, std::int64_t K, std::int64_t obs_dim, std::int64_t n_actions) {
  torch::manual_seed(3);
  DTBatch b;
  b.states = torch::randn({B, K, obs_dim});
  b.actions = torch::randint(0, n_actions, {B, K}, torch::kLong);
  b.rtg = torch::randn({B, K});
  b.timesteps = torch::arange(K, torch::kLong).unsqueeze(0).expand({B, K}).contiguous();
  b.pad = torch::ones({B, K}, torch::kBool);
  return b;
}

torch::Tensor predict(DecisionTransformer& m, const DTBatch& b) {
  torch::NoGradGuard no_grad;
  return m->forward(b.states, b.actions, b.rtg, b.timesteps, b.pad);
}

TEST(DecisionTransformerTest, ChangingAFutureStepLeavesEarlierPredictionsUnchanged) {
  for (bool condition : {true, false}) {
    auto options = small_options(/*context=*/5);
    DecisionTransformer m(options, vector_shape(/*obs_dim=*/3, ActionSpace::discrete(4), condition));
    auto b = random_batch(/*B=*/2, /*K=*/5, /*obs_dim=*/3, /*n_actions=*/4);
    auto before = predict(m, b);
    auto changed = b;
    changed.states = b.states.clone();
    changed.states.select(1, 3).add_(5.0);
    changed.actions = b.actions.clone();
    changed.actions.select(1, 2).fill_(3 - b.actions[0][2].item<std::int64_t>());
    changed.rtg = b.rtg.clone();
    changed.rtg.select(1, 3).add_(7.0);
    auto after = predict(m, changed);
    // Step 2's prediction may not see its own action (a_2 changed), step 3's sees s_3.
    EXPECT_TRUE(torch::allclose(before.narrow(1, 0, 3), after.narrow(1, 0, 3), 1e-5, 1e-6)) << condition;
    EXPECT_FALSE(torch::allclose(before.select(1, 3), after.select(1, 3), 1e-5, 1e-6)) << condition;
  }
}

TEST(DecisionTransformerTest, LeftPaddingIsInvisibleToRealSteps) {
  auto options = small_options(/*context=*/6);
  DecisionTransformer m(options, vector_shape(3, ActionSpace::discrete(4)));
  auto b = random_batch(2, 6, 3, 4);
  b.pad.narrow(1, 0, 2).fill_(false);  // two padded steps on the left
  auto before = predict(m, b);
  auto changed = b;
  changed.states = b.states.clone();
  changed.states.narrow(1, 0, 2).normal_();
  changed.rtg = b.rtg.clone();
  changed.rtg.narrow(1, 0, 2).add_(100.0);
  changed.actions = b.actions.clone();
  changed.actions.narrow(1, 0, 2).fill_(1);
  auto after = predict(m, changed);
  EXPECT_TRUE(torch::allclose(before.narrow(1, 2, 4), after.narrow(1, 2, 4), 1e-5, 1e-6));
  EXPECT_TRUE(torch::isfinite(after).all().item<bool>());
}

TEST(DecisionTransformerTest, ContinuousActionsArePredictedInsideTheUnitBox) {
  auto options = small_options(3);
  DecisionTransformer m(options, vector_shape(2, ActionSpace::box({-2, 0}, {2, 1})));
  DTBatch b = random_batch(2, 3, 2, 1);
  b.actions = torch::rand({2, 3, 2}) * 2 - 1;
  auto out = predict(m, b);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({2, 3, 2}));
  EXPECT_LE(out.abs().max().item<float>(), 1.0f);
  auto space = ActionSpace::box({-2, 0}, {2, 1});
  auto a = torch::tensor({{-2.0f, 0.5f}, {1.0f, 1.0f}});
  auto s = scale_actions(space, a);
  EXPECT_TRUE(torch::allclose(s, torch::tensor({{-1.0f, 0.0f}, {0.5f, 1.0f}})));
  EXPECT_TRUE(torch::allclose(unscale_actions(space, s), a));
}

TEST(DTDataTest, WindowsAreRightAlignedWithZeroPadsAndScaledReturnsToGo) {
  auto d = dataset_of({{3, 1.0f, 1}, {2, 2.0f, 2}});
  auto options = small_options(/*context=*/4);
  options.rtg_scale = 2.0;
  options.normalize_states = false;
  DTData data(d, options, vector_shape(2, ActionSpace::discrete(3)));
  ASSERT_EQ(data.episodes(), 2);
  EXPECT_DOUBLE_EQ(data.best_return(), 4.0);
  auto gen = nn::make_generator(7);
  auto b = data.sample(/*batch_size=*/64, gen);
  for (std::int64_t i = 0; i < 64; ++i) {
    auto pad = b.pad[i];
    const auto real = pad.sum().item<std::int64_t>();
    ASSERT_GE(real, 1);
    // Real steps fill the right end of the window.
    EXPECT_TRUE(pad.narrow(0, 4 - real, real).all().item<bool>());
    EXPECT_FALSE(pad.narrow(0, 0, 4 - real).any().item<bool>());
    EXPECT_EQ(b.states[i].narrow(0, 0, 4 - real).abs().sum().item<float>(), 0.0f);
    // Consecutive real timesteps, states 0.1 t, rtg of the episode's reward times the steps left.
    const auto t0 = b.timesteps[i][4 - real].item<std::int64_t>();
    const auto action = b.actions[i][3].item<std::int64_t>();
    const float reward = action == 1 ? 1.0f : 2.0f;
    const std::int64_t len = action == 1 ? 3 : 2;
    for (std::int64_t k = 4 - real; k < 4; ++k) {
      const std::int64_t t = t0 + k - (4 - real);
      EXPECT_EQ(b.timesteps[i][k].item<std::int64_t>(), t);
      EXPECT_NEAR(b.states[i][k][0].item<float>(), 0.1f * static_cast<float>(t), 1e-6);
      EXPECT_NEAR(b.rtg[i][k].item<float>(), reward * static_cast<float>(len - t) / 2.0f, 1e-6);
    }
  }
}

TEST(DTDataTest, EpisodesAreDrawnInProportionToTheirLength) {
  auto d = dataset_of({{30, 0.0f, 0}, {10, 0.0f, 1}});
  auto options = small_options(/*context=*/1);
  DTData data(d, options, vector_shape(2, ActionSpace::discrete(2)));
  auto gen = nn::make_generator(1);
  auto b = data.sample(/*batch_size=*/8000, gen);
  const double long_share = b.actions.select(1, 0).eq(0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(long_share, 0.75, 0.03);
}

TEST(DTDataTest, TopPercentKeepsTheBestEpisodesForPercentBC) {
  auto d = dataset_of({{2, 0.0f, 0}, {2, 3.0f, 1}, {2, 1.0f, 2}, {2, 2.0f, 0}});
  auto options = small_options(2);
  options.top_percent = 50;
  DTData data(d, options, vector_shape(2, ActionSpace::discrete(3)));
  EXPECT_EQ(data.episodes(), 2);
  EXPECT_DOUBLE_EQ(data.mean_return(), (6.0 + 4.0) / 2);
  auto gen = nn::make_generator(2);
  auto b = data.sample(256, gen);
  std::set<std::int64_t> seen;
  for (std::int64_t i = 0; i < b.actions.numel(); ++i)
    if (b.pad.view(-1)[i].item<bool>()) seen.insert(b.actions.view(-1)[i].item<std::int64_t>());
  EXPECT_EQ(seen, (std::set<std::int64_t>{0, 1}));  // episodes of return 6 (action 1) and 4 (action 0)
}

TEST(DTDataTest, RejectsADatasetThatDoesNotFitTheEnv) {
  auto d = dataset_of({{3, 1.0f, 5}});
  auto options = small_options(2);
  EXPECT_THROW(DTData(d, options, vector_shape(2, ActionSpace::discrete(3))), Error);  // action 5 of 3
  EXPECT_THROW(DTData(d, options, vector_shape(4, ActionSpace::discrete(8))), Error);  // obs 2 vs 4
}

TEST(DTActorTest, ReturnToGoStartsAtTheTargetDropsByRewardsAndResetsWithTheEpisode) {
  auto options = small_options(3);
  DecisionTransformer m(options, vector_shape(2, ActionSpace::discrete(3)));
  DTActor actor(m, options, /*num_envs=*/2, /*target_return=*/10.0, /*seed=*/1);
  EXPECT_TRUE(torch::allclose(actor.returns_to_go(), torch::tensor({10.0, 10.0}, torch::kFloat64)));
  auto obs = torch::zeros({2, 2});
  auto a = actor.act(obs);
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({2}));
  actor.observe(torch::tensor({1.0f, 2.5f}), torch::tensor({false, false}));
  EXPECT_TRUE(torch::allclose(actor.returns_to_go(), torch::tensor({9.0, 7.5}, torch::kFloat64)));
  actor.act(obs);
  actor.observe(torch::tensor({3.0f, 1.0f}), torch::tensor({false, true}));
  EXPECT_TRUE(torch::allclose(actor.returns_to_go(), torch::tensor({6.0, 10.0}, torch::kFloat64)));
}

TEST(DTActorTest, ActsOnlyOnTheCurrentEpisodesHistory) {
  // After an episode ends, the next action must equal that of a fresh actor given the same
  // observation: nothing of the old episode leaks through the window.
  auto options = small_options(4);
  DecisionTransformer m(options, vector_shape(2, ActionSpace::box({-1, -1}, {1, 1})));
  DTActor used(m, options, 1, 5.0, 1), fresh(m, options, 1, 5.0, 1);
  for (int i = 0; i < 3; ++i) {
    used.act(torch::randn({1, 2}));
    used.observe(torch::tensor({1.0f}), torch::tensor({i == 2}));
  }
  auto obs = torch::randn({1, 2});
  EXPECT_TRUE(torch::allclose(used.act(obs), fresh.act(obs), 1e-5, 1e-6));
}

// Two kinds of episodes with identical states: return 1 took action 1, return 0 took action 0.
// Conditioned on the return, a DT tells them apart; BC cannot.
TEST(OfflineTrainerTest, ConditioningOnReturnSelectsTheBehaviourThatEarnedIt) {
  std::vector<std::tuple<std::int64_t, float, std::int64_t>> eps;
  for (int i = 0; i < 20; ++i) {
    eps.emplace_back(4, 0.25f, 1);
    eps.emplace_back(4, 0.0f, 0);
  }
  const fs::path dir = fs::temp_directory_path() / ("mnemo-dt-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  SingleCommunicator comm;
  auto train = [&](const std::string& algo) {
    OfflineContext c;
    c.algo = algo;
    c.options = small_options(2);
    c.options.updates = 150;
    c.options.warmup_steps = 10;
    c.options.lr = 3e-3;
    c.options.batch_size = 32;
    c.shape = vector_shape(2, ActionSpace::discrete(2));
    c.dataset = std::make_shared<replay::Dataset>(dataset_of(eps));
    c.comm = &comm;
    c.run_dir = dir / algo;
    c.progress = false;
    auto t = std::make_unique<OfflineTrainer>(std::move(c));
    t->run();
    return t;
  };
  auto act_for = [](OfflineTrainer& t, double target) {
    DTActor a(t.model(), small_options(2), 1, target, 1);
    return a.act(torch::zeros({1, 2}))[0].item<std::int64_t>();
  };
  auto dt = train("dt");
  EXPECT_EQ(act_for(*dt, 1.0), 1);
  EXPECT_EQ(act_for(*dt, 0.0), 0);
  EXPECT_DOUBLE_EQ(dt->target_return(), 1.0);  // the dataset's best return
  EXPECT_TRUE(fs::exists(dir / "dt" / "checkpoints"));
  fs::remove_all(dir);
}

TEST(OfflineTrainerTest, ResumeContinuesFromTheCheckpointBitForBit) {
  std::vector<std::tuple<std::int64_t, float, std::int64_t>> eps;
  for (int i = 0; i < 6; ++i) eps.emplace_back(5, static_cast<float>(i % 3), i % 2);
  const fs::path dir = fs::temp_directory_path() / ("mnemo-dt-resume-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  SingleCommunicator comm;
  auto context = [&](const fs::path& run, std::int64_t updates, bool resume) {
    OfflineContext c;
    c.options = small_options(3);
    c.options.updates = updates;
    c.shape = vector_shape(2, ActionSpace::discrete(2));
    c.dataset = std::make_shared<replay::Dataset>(dataset_of(eps));
    c.comm = &comm;
    c.run_dir = run;
    c.resume = resume;
    c.progress = false;
    return c;
  };
  OfflineTrainer straight(context(dir / "a", 20, false));
  straight.run();
  {
    OfflineTrainer first(context(dir / "b", 10, false));
    first.run();
  }
  OfflineTrainer second(context(dir / "b", 20, true));
  second.run();
  EXPECT_EQ(second.updates(), 20);
  auto pa = straight.model()->parameters(), pb = second.model()->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
  fs::remove_all(dir);
}

TEST(DTOptionsTest, BadOptionsAreConfigErrorsNamingTheKey) {
  auto expect_error = [](DTOptions o, const std::string& key) {
    try {
      o.validate("dt");
      FAIL() << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  auto o = small_options();
  o.dataset.clear();
  expect_error(o, "learner.dt.dataset");
  o = small_options();
  o.top_percent = 0;
  expect_error(o, "learner.dt.top_percent");
  o = small_options();
  o.align_weight = 0.1;
  expect_error(o, "learner.dt.align_weight");
  o = small_options(30);
  o.positions = true;
  expect_error(o, "learner.dt.context");
  o = small_options();
  o.device = "tpu:0";
  expect_error(o, "learner.dt.device");
  if (!torch::cuda::is_available()) {
    // A GPU config validates anywhere (eval on a CPU machine); asking for the device does not.
    o.device = "cuda";
    EXPECT_NO_THROW(o.validate("dt"));
    EXPECT_THROW(o.torch_device(), ConfigError);
  }
}

}  // namespace
}  // namespace mnemo::learners
