// Tests of `mnemo eval` and `mnemo export` on a real (tiny) CartPole run: the episode count and
// range, reproducibility, the GIF, bad input, and the safetensors export read back bit-exactly.
#include "launch/eval.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/models/safetensors.h"
#include "core/runlog/checkpoint.h"
#include "envs/step_batch.h"
#include "launch/cli.h"
#include "launch/export.h"
#include "launch/train.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

std::string config_path() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return (fs::path(s != nullptr ? s : ".") / "launch/configs/cartpole_ppo.yaml").string();
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One tiny training run per test process (ctest runs each test in its own process): 2560 env
// steps, five PPO updates, one checkpoint at the end. The policy is barely trained, which is
// fine: these tests check the plumbing, not the learning.
class EvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("mnemo-eval-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    run_ = dir_ / "run";
    TrainConfig c = load_train_config(
        config_path(), {"learner.total_env_steps=2560", "run.progress=false", "run.log_level=warn"});
    train_embedded(c, run_, /*resume=*/false);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static EvalOptions options(std::int64_t episodes) {
    EvalOptions o;
    o.source = run_.string();
    o.episodes = episodes;
    return o;
  }

  static fs::path dir_, run_;
};
fs::path EvalTest::dir_, EvalTest::run_;

void expect_same_episodes(const EvalResult& a, const EvalResult& b) {
  ASSERT_EQ(a.episodes.size(), b.episodes.size());
  for (std::size_t i = 0; i < a.episodes.size(); ++i) {
    EXPECT_EQ(a.episodes[i].env, b.episodes[i].env) << i;
    EXPECT_EQ(a.episodes[i].episode_return, b.episodes[i].episode_return) << i;
    EXPECT_EQ(a.episodes[i].length, b.episodes[i].length) << i;
  }
}

TEST_F(EvalTest, FinishesExactlyTheRequestedEpisodesWithCartPoleReturns) {
  EvalOptions o = options(/*episodes=*/7);
  o.envs = 3;
  const EvalResult r = evaluate(o);
  ASSERT_EQ(r.episodes.size(), 7u);
  EXPECT_EQ(r.num_envs, 3);
  EXPECT_EQ(r.env, "cartpole");
  EXPECT_EQ(r.updates, 5);
  EXPECT_EQ(r.env_steps, 2560);
  // Quotas of 3, 2, 2 episodes, reported by env.
  std::vector<int> per_env(3, 0);
  for (const auto& e : r.episodes) {
    ASSERT_GE(e.env, 0);
    ASSERT_LT(e.env, 3);
    ++per_env[static_cast<std::size_t>(e.env)];
    // CartPole pays 1 per step and truncates at 500 steps.
    EXPECT_GE(e.episode_return, 1.0);
    EXPECT_LE(e.episode_return, 500.0);
    EXPECT_EQ(e.episode_return, static_cast<double>(e.length));
  }
  EXPECT_EQ(per_env, (std::vector<int>{3, 2, 2}));
  const Stats s = r.returns();
  EXPECT_GE(s.min, 1.0);
  EXPECT_LE(s.max, 500.0);
  EXPECT_LE(s.min, s.mean);
  EXPECT_LE(s.mean, s.max);
}

TEST_F(EvalTest, UsesAtMostEightEnvsAndNeverMoreThanEpisodes) {
  EXPECT_EQ(evaluate(options(/*episodes=*/2)).num_envs, 2);
  EXPECT_EQ(evaluate(options(/*episodes=*/10)).num_envs, 8);
}

TEST_F(EvalTest, SameOptionsGiveTheSameResult) {
  EvalOptions o = options(/*episodes=*/6);
  expect_same_episodes(evaluate(o), evaluate(o));
  // The synchronous pool's results do not depend on its thread count.
  EvalOptions threaded = o;
  threaded.overrides = {"actor.env_threads=2"};
  expect_same_episodes(evaluate(o), evaluate(threaded));
  // Sampling draws from a generator seeded with --seed, so it repeats too.
  EvalOptions stochastic = o;
  stochastic.stochastic = true;
  expect_same_episodes(evaluate(stochastic), evaluate(stochastic));
}

TEST_F(EvalTest, ACheckpointDirectoryEvaluatesLikeItsRun) {
  auto latest = CheckpointManager(run_ / "checkpoints", 0).latest();
  ASSERT_TRUE(latest.has_value());
  EvalOptions from_checkpoint = options(/*episodes=*/4);
  from_checkpoint.source = latest->dir.string();
  const EvalResult a = evaluate(from_checkpoint);
  EXPECT_EQ(a.checkpoint, latest->dir);
  expect_same_episodes(a, evaluate(options(/*episodes=*/4)));
}

TEST_F(EvalTest, GifRecordsEnvZerosFirstEpisodeFromResetToEnd) {
  EvalOptions o = options(/*episodes=*/3);
  o.gif = (dir_ / "episode.gif").string();
  const EvalResult r = evaluate(o);
  const std::string gif = read_bytes(o.gif);
  ASSERT_GE(gif.size(), 6u);
  EXPECT_EQ(gif.substr(0, 6), "GIF89a");
  EXPECT_EQ(gif.back(), '\x3B');  // the GIF trailer: the file is complete
  // One frame after the reset and one after every step, the final one included.
  ASSERT_GT(r.gif_length, 0);
  EXPECT_EQ(r.gif_frames, r.gif_length + 1);
  // The episodes are ordered by env, so env 0's first episode comes first.
  ASSERT_EQ(r.episodes[0].env, 0);
  EXPECT_EQ(r.gif_length, r.episodes[0].length);
  EXPECT_EQ(r.gif_return, r.episodes[0].episode_return);
}

TEST_F(EvalTest, EvalCommandPrintsTheTable) {
  testing::internal::CaptureStdout();
  const int rc = run_cli({"eval", run_.string(), "--episodes", "3", "--envs", "2"});
  const std::string out = testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("cartpole: 3 episodes on 2 envs, deterministic policy (mode), seed 1"), std::string::npos) << out;
  for (const char* word : {"mean", "std", "min", "max", "return", "length"})
    EXPECT_NE(out.find(word), std::string::npos) << word << "\n" << out;
}

TEST_F(EvalTest, BadInputExitsWithCode2AndWritesNothing) {
  const fs::path empty = dir_ / "empty";
  fs::create_directories(empty);
  const fs::path no_checkpoints = dir_ / "no-checkpoints";
  fs::create_directories(no_checkpoints);
  fs::copy_file(run_ / "config.yaml", no_checkpoints / "config.yaml");
  const fs::path none_complete = dir_ / "none-complete";
  fs::create_directories(none_complete / "checkpoints" / ".tmp-1");
  fs::copy_file(run_ / "config.yaml", none_complete / "config.yaml");
  // A checkpoint whose weights were cut short: its manifest no longer verifies.
  auto latest = CheckpointManager(run_ / "checkpoints", 0).latest();
  ASSERT_TRUE(latest.has_value());
  const fs::path corrupt = dir_ / "corrupt";
  fs::copy(latest->dir, corrupt);
  fs::resize_file(corrupt / "model.pt", fs::file_size(corrupt / "model.pt") / 2);

  const std::string run = run_.string();
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_cli({"eval", (dir_ / "missing").string()}), 2);
  EXPECT_EQ(run_cli({"eval", empty.string()}), 2);
  EXPECT_EQ(run_cli({"eval", no_checkpoints.string()}), 2);
  EXPECT_EQ(run_cli({"eval", none_complete.string()}), 2);
  EXPECT_EQ(run_cli({"eval", corrupt.string()}), 2);
  EXPECT_EQ(run_cli({"eval", run, "--set", "env.max_stepz=10"}), 2);
  EXPECT_EQ(run_cli({"eval", run, "--set", "model.hidden=[8]"}), 2);
  // An env whose observations no longer fit the weights (2 values instead of 4).
  EXPECT_EQ(run_cli({"eval", run, "--set", "env.name=masked_cartpole"}), 2);
  EXPECT_EQ(run_cli({"eval", run, "--episodes", "0"}), 2);
  EXPECT_EQ(run_cli({"eval", run, "--episodes", "many"}), 2);
  EXPECT_EQ(run_cli({"eval", run, "--gif", (dir_ / "nodir" / "x.gif").string()}), 2);
  EXPECT_EQ(run_cli({"eval", run, "--gif", (dir_ / "x.png").string()}), 2);
  EXPECT_EQ(run_cli({"eval", run, "--bogus"}), 2);
  EXPECT_EQ(run_cli({"eval"}), 2);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("has no checkpoints yet"), std::string::npos) << err;
  EXPECT_NE(err.find("incomplete or corrupt"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean 'env.max_steps'"), std::string::npos) << err;
  EXPECT_NE(err.find("do not fit"), std::string::npos) << err;
  // Looking for checkpoints creates nothing.
  EXPECT_FALSE(fs::exists(no_checkpoints / "checkpoints"));
  EXPECT_FALSE(fs::exists(dir_ / "nodir"));
}

// ---------------------------------------------------------------------------------------------
// Export.

TEST_F(EvalTest, ExportWritesASafetensorsHeaderThatParses) {
  const fs::path out = dir_ / "policy.safetensors";
  testing::internal::CaptureStdout();
  ASSERT_EQ(run_cli({"export", run_.string(), "--out", out.string()}), 0);
  testing::internal::GetCapturedStdout();
  const std::string bytes = read_bytes(out);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "the data should start 8-byte aligned";
  const std::string header = bytes.substr(8, n);
  ASSERT_EQ(header[0], '{');
  // Parsed by yaml-cpp (JSON is YAML), a parser independent of the writer.
  const config::Node root = config::parse_yaml(header, "header");
  ASSERT_TRUE(root.is_map());

  TrainedPolicy trained = load_trained_policy(run_.string(), {});
  const auto tensors = policy_tensors(*trained.policy);
  ASSERT_EQ(root.map.size(), tensors.size() + 1);
  const std::uint64_t data_size = bytes.size() - 8 - n;
  std::uint64_t covered = 0;
  for (const auto& [name, t] : tensors) {
    const config::Node* e = root.find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->find("dtype")->scalar, "F32") << name;
    const config::Node* shape = e->find("shape");
    ASSERT_EQ(shape->items.size(), static_cast<std::size_t>(t.dim())) << name;
    for (std::int64_t d = 0; d < t.dim(); ++d)
      EXPECT_EQ(shape->items[static_cast<std::size_t>(d)].scalar, std::to_string(t.size(d))) << name;
    const config::Node* offsets = e->find("data_offsets");
    ASSERT_EQ(offsets->items.size(), 2u);
    const std::uint64_t begin = std::stoull(offsets->items[0].scalar), end = std::stoull(offsets->items[1].scalar);
    EXPECT_EQ(end - begin, static_cast<std::uint64_t>(t.nbytes())) << name;
    EXPECT_LE(end, data_size) << name;
    covered += end - begin;
  }
  EXPECT_EQ(covered, data_size);
  const config::Node* meta = root.find("__metadata__");
  ASSERT_NE(meta, nullptr);
  for (const char* key : {"format", "mnemo_version", "model", "observation_spec", "action_space", "env", "config"})
    EXPECT_NE(meta->find(key), nullptr) << key;
  EXPECT_EQ(meta->find("format")->scalar, "pt");
  EXPECT_EQ(meta->find("action_space")->scalar, R"({"kind": "discrete", "n": 2})");
  EXPECT_EQ(meta->find("observation_spec")->scalar, R"([{"name": "obs", "dtype": "float32", "shape": [4]}])");
  EXPECT_EQ(meta->find("env_steps")->scalar, "2560");
}

TEST_F(EvalTest, ExportedTensorsRoundTripBitExactly) {
  const fs::path out = dir_ / "roundtrip.safetensors";
  export_policy(run_.string(), out);
  TrainedPolicy trained = load_trained_policy(run_.string(), {});
  const SafeTensors file = load_safetensors(out);
  const auto tensors = policy_tensors(*trained.policy);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const torch::Tensor& got = file.at(name);
    ASSERT_EQ(got.scalar_type(), t.scalar_type()) << name;
    ASSERT_EQ(got.sizes(), t.sizes()) << name;
    auto want = t.detach().contiguous();
    EXPECT_EQ(std::memcmp(got.data_ptr(), want.data_ptr(), static_cast<std::size_t>(want.nbytes())), 0) << name;
  }
  EXPECT_TRUE(file.tensors.count("actor.0.weight"));
  EXPECT_TRUE(file.tensors.count("critic.4.bias"));
}

TEST_F(EvalTest, PolicyRebuiltFromTheExportActsIdentically) {
  const fs::path out = dir_ / "rebuild.safetensors";
  export_policy(run_.string(), out);
  TrainedPolicy trained = load_trained_policy(run_.string(), {});
  const ExportedPolicy rebuilt = load_exported_policy(out);
  EXPECT_EQ(rebuilt.model.type, "mlp");
  EXPECT_EQ(rebuilt.model.hidden, trained.config.model.hidden);
  EXPECT_EQ(rebuilt.obs_spec, trained.obs_spec);
  EXPECT_EQ(rebuilt.action_space.str(), trained.action_space.str());

  torch::InferenceMode guard;
  const torch::Tensor obs = torch::randn({256, 4}, torch::TensorOptions().dtype(torch::kFloat32)) * 2.0;
  const nn::PolicyOutput a = trained.policy->step(obs, trained.policy->initial_state(256));
  const nn::PolicyOutput b = rebuilt.policy->step(obs, rebuilt.policy->initial_state(256));
  EXPECT_TRUE(torch::equal(a.params, b.params));
  EXPECT_TRUE(torch::equal(a.value, b.value));
  const auto mode_a = nn::ActionDist(trained.action_space, a.params, {}).mode();
  const auto mode_b = nn::ActionDist(rebuilt.action_space, b.params, {}).mode();
  EXPECT_TRUE(torch::equal(mode_a, mode_b));
}

TEST_F(EvalTest, ExportBadInputExitsWithCode2) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_cli({"export", run_.string()}), 2);  // no --out
  EXPECT_EQ(run_cli({"export", (dir_ / "missing").string(), "--out", (dir_ / "p.safetensors").string()}), 2);
  EXPECT_EQ(run_cli({"export", run_.string(), "--out", (dir_ / "nodir" / "p.safetensors").string()}), 2);
  EXPECT_EQ(run_cli({"export", run_.string(), "--out"}), 2);
  EXPECT_EQ(run_cli({"export", run_.string(), "--bogus"}), 2);
  testing::internal::GetCapturedStderr();
  EXPECT_FALSE(fs::exists(dir_ / "p.safetensors"));
}

// ---------------------------------------------------------------------------------------------
// A recurrent policy on an env with infos: T-Maze with an LSTM, trained just as briefly.

class RecurrentEvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("mnemo-eval-lstm-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    run_ = dir_ / "run";
    const TrainConfig c = load_train_config_text(R"(
run: {name: tmaze, seed: 1, progress: false, log_level: warn}
env: {name: tmaze, corridor_length: 3, max_steps: 12}
model: {type: lstm, layers: 1, d_model: 16}
actor: {num_actors: 1, num_envs: 4, unroll_length: 16, sync: true}
learner: {algo: ppo, batch_sequences: 4, total_env_steps: 1024, checkpoint_every: 0}
replay: {table: {max_size: 16}}
)",
                                                 "tmaze test config", {});
    train_embedded(c, run_, /*resume=*/false);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_, run_;
};
fs::path RecurrentEvalTest::dir_, RecurrentEvalTest::run_;

TEST_F(RecurrentEvalTest, ReportsTheEnvsInfosPerEpisode) {
  EvalOptions o;
  o.source = run_.string();
  o.episodes = 9;
  const EvalResult r = evaluate(o);
  ASSERT_EQ(r.episodes.size(), 9u);
  ASSERT_EQ(r.info_names, std::vector<std::string>{"success"});
  for (const auto& e : r.episodes) {
    ASSERT_EQ(e.infos.size(), 1u);
    EXPECT_TRUE(e.infos[0] == 0.0 || e.infos[0] == 1.0) << e.infos[0];
    EXPECT_LE(e.length, 12);
  }
  const Stats success = r.info(0);
  EXPECT_GE(success.mean, 0.0);
  EXPECT_LE(success.mean, 1.0);
  EXPECT_NE(format_eval_result(r).find("success"), std::string::npos);
}

// A copy of the run whose actions depend strongly on the LSTM's memory: the actor head starts
// with tiny weights (gain 0.01) and a few updates leave its action probabilities almost uniform,
// so a state carried over from the previous episode would rarely change a sampled action and a
// test could not tell. Scaling the head and the recurrent weights makes every state count.
fs::path make_memory_sensitive_run(const fs::path& run, const fs::path& out) {
  TrainedPolicy t = load_trained_policy(run.string(), {});
  {
    torch::NoGradGuard no_grad;
    for (auto& p : t.policy->named_parameters()) {
      if (p.key().rfind("heads.actor.", 0) == 0) p.value().mul_(100.0);
      if (p.key().find(".hh.") != std::string::npos) p.value().mul_(4.0);  // state -> gates
    }
  }
  fs::create_directories(out);
  fs::copy_file(run / "config.yaml", out / "config.yaml", fs::copy_options::overwrite_existing);
  CheckpointManager mgr(out / "checkpoints", 0);
  auto pending = mgr.begin(t.updates);
  torch::serialize::OutputArchive ar;
  t.policy->save(ar);
  ar.save_to((pending.dir() / "model.pt").string());
  StateFile state;
  state.set("updates", t.updates);
  state.set("env_steps", t.env_steps);
  state.save(pending.dir() / "state.bin");
  fs::copy_file(t.checkpoint_dir / "config.yaml", pending.dir() / "config.yaml");
  pending.commit();
  return out;
}

TEST_F(RecurrentEvalTest, MatchesALoneEnvWhoseStateRestartsEveryEpisode) {
  const fs::path run = make_memory_sensitive_run(run_, dir_ / "sensitive");
  EvalOptions o;
  o.source = run.string();
  o.episodes = 12;
  o.envs = 1;
  // Sampled actions: the briefly trained mode is one fixed action whatever the state.
  o.stochastic = true;
  const EvalResult r = evaluate(o);

  // The reference: env 0's episodes played one at a time, each from a fresh recurrent state.
  TrainedPolicy t = load_trained_policy(run.string(), {});
  auto env = env_factory(t.config)(0);
  const FieldSpec& field = t.obs_spec.fields.at(0);
  torch::Tensor obs = torch::zeros(field.shape, torch::kFloat32);
  envs::ObsSlot slot({obs.data_ptr()});
  envs::SeedStream seeds(eval_pool_seed(o.seed), 0);
  at::Generator gen = eval_generator(o.seed);
  torch::InferenceMode guard;
  for (std::size_t k = 0; k < r.episodes.size(); ++k) {
    env->reset(seeds.next(), slot);
    nn::State state = t.policy->initial_state(1);
    double ret = 0;
    std::int64_t length = 0;
    for (bool ended = false; !ended;) {
      const nn::PolicyOutput out = t.policy->step(obs.unsqueeze(0), state);
      state = out.state;
      const std::int64_t action = nn::ActionDist(t.action_space, out.params, {}).sample(gen).item<std::int64_t>();
      const envs::StepResult step = env->step(&action, slot);
      ret += step.reward;
      ++length;
      ended = step.terminated || step.truncated;
    }
    EXPECT_EQ(r.episodes[k].length, length) << "episode " << k;
    EXPECT_EQ(r.episodes[k].episode_return, static_cast<float>(ret)) << "episode " << k;
  }
}

TEST_F(RecurrentEvalTest, ExportedLstmRebuildsWithIdenticalOutputsAndState) {
  const fs::path out = dir_ / "lstm.safetensors";
  export_policy(run_.string(), out);
  TrainedPolicy t = load_trained_policy(run_.string(), {});
  const ExportedPolicy rebuilt = load_exported_policy(out);
  EXPECT_EQ(rebuilt.model.type, "lstm");
  EXPECT_EQ(rebuilt.model.d_model, 16);
  torch::InferenceMode guard;
  const std::int64_t dim = nn::obs_dim(t.obs_spec);
  nn::State sa = t.policy->initial_state(3), sb = rebuilt.policy->initial_state(3);
  for (int step = 0; step < 4; ++step) {
    const torch::Tensor obs = torch::randn({3, dim});
    const nn::PolicyOutput a = t.policy->step(obs, sa), b = rebuilt.policy->step(obs, sb);
    EXPECT_TRUE(torch::equal(a.params, b.params)) << step;
    EXPECT_TRUE(torch::equal(a.value, b.value)) << step;
    ASSERT_EQ(a.state.size(), b.state.size());
    for (std::size_t i = 0; i < a.state.size(); ++i) EXPECT_TRUE(torch::equal(a.state[i], b.state[i])) << step;
    sa = a.state;
    sb = b.state;
  }
}

}  // namespace
}  // namespace mnemo::launch
