// End-to-end tests of `mnemo train` in the embedded mode: learning, determinism, resume (with the
// replay contents), and a replay server that keeps serving while garbage arrives on its port.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "core/json.h"
#include "core/net/transport.h"
#include "core/net/wire.h"
#include "core/runlog/checkpoint.h"
#include "launch/train.h"
#include "launch/trained_policy.h"
#include "replay/checkpointer.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

fs::path source_dir() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return s != nullptr ? fs::path(s) : fs::current_path();
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("mnemo-it-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

TrainConfig cartpole(std::vector<std::string> sets) {
  sets.push_back("run.progress=false");
  sets.push_back("run.log_level=warn");
  return load_train_config((source_dir() / "launch/configs/cartpole_ppo.yaml").string(), sets);
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(TrainTest, PpoOnCartPoleEndsFarAboveARandomPolicy) {
  fs::path dir = fresh_dir("learn");
  TrainResult r = train_embedded(cartpole({"learner.total_env_steps=80000"}), dir, /*resume=*/false);
  EXPECT_GE(r.counters.env_steps, 80000);
  // A random policy averages ~22 on CartPole.
  EXPECT_GT(r.recent_return, 100.0);
  EXPECT_TRUE(fs::exists(dir / "config.yaml"));
  EXPECT_TRUE(fs::exists(dir / "metrics.jsonl"));
  EXPECT_TRUE(fs::exists(dir / "logs" / "rank-0.log"));
  CheckpointManager mgr(dir / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, r.counters.updates);
  fs::remove_all(dir);
}

TEST(TrainTest, SyncModeIsReproducibleFromTheSeed) {
  fs::path a = fresh_dir("det-a"), b = fresh_dir("det-b");
  auto c = cartpole({"learner.total_env_steps=8192"});
  TrainResult ra = train_embedded(c, a, false);
  TrainResult rb = train_embedded(c, b, false);
  EXPECT_EQ(ra.counters.updates, rb.counters.updates);
  EXPECT_EQ(ra.recent_return, rb.recent_return);
  // Same losses, returns and KL in every logged row (time and speed differ).
  // Everything but the wall-clock measurements (time, sps, learner_idle_s).
  auto strip = [](const std::string& l) {
    std::string out;
    for (const auto& [key, value] : json::parse(l, "metrics line").members)
      if (key != "time" && key != "sps" && key != "learner_idle_s") out += key + "=" + value.text + " ";
    return out;
  };
  auto la = lines_of(a / "metrics.jsonl"), lb = lines_of(b / "metrics.jsonl");
  ASSERT_EQ(la.size(), lb.size());
  ASSERT_FALSE(la.empty());
  for (std::size_t i = 0; i < la.size(); ++i) EXPECT_EQ(strip(la[i]), strip(lb[i]));
  fs::remove_all(a);
  fs::remove_all(b);
}

// Asynchronous actors run ahead of the learner; with learner.max_policy_lag the learner trains
// only on sequences at most that many updates old. How many are dropped depends on scheduling;
// the bound on what was trained on does not.
TEST(TrainTest, AsyncActorsTrainOnlyOnSequencesWithinTheMaximumPolicyLag) {
  fs::path dir = fresh_dir("lag");
  auto c = cartpole({"actor.num_actors=2", "actor.sync=false", "learner.max_policy_lag=1", "learner.log_every=1",
                     "learner.total_env_steps=8192"});
  const TrainResult r = train_embedded(c, dir, false);
  EXPECT_GE(r.counters.env_steps, 8192);
  const auto lines = lines_of(dir / "metrics.jsonl");
  ASSERT_FALSE(lines.empty());
  for (const auto& l : lines) {
    const json::Value v = json::parse(l, "metrics line");
    ASSERT_NE(v.find("policy_lag_max"), nullptr) << l;
    EXPECT_LE(v.find("policy_lag_max")->as_double("policy_lag_max"), 1.0) << l;
    EXPECT_LE(v.find("policy_lag")->as_double("policy_lag"), 1.0) << l;
    EXPECT_GE(v.find("stale_dropped")->as_double("stale_dropped"), 0.0) << l;
    EXPECT_GE(v.find("learner_idle_s")->as_double("learner_idle_s"), 0.0) << l;
  }
  fs::remove_all(dir);
}

// The evaluator plays the latest parameters on envs of its own every N updates and once more on the
// final ones, which the run waits for: its returns and the env's infos land in the metrics.
TEST(TrainTest, TheEvaluatorReportsReturnsAndInfosIncludingTheFinalParameters) {
  fs::path dir = fresh_dir("evaluator");
  auto c = load_train_config((source_dir() / "launch/configs/tmaze_lstm.yaml").string(),
                             {"learner.total_env_steps=4096", "evaluator.every=2", "evaluator.episodes=3",
                              "run.progress=false"});
  const TrainResult r = train_embedded(c, dir, false);
  const auto lines = lines_of(dir / "metrics.jsonl");
  ASSERT_FALSE(lines.empty());
  const json::Value last = json::parse(lines.back(), "metrics line");
  ASSERT_NE(last.find("eval_update"), nullptr) << lines.back();
  EXPECT_EQ(last.find("eval_update")->as_double("eval_update"), static_cast<double>(r.counters.updates));
  ASSERT_NE(last.find("eval_success"), nullptr) << lines.back();
  const double success = last.find("eval_success")->as_double("eval_success");
  EXPECT_GE(success, 0.0);
  EXPECT_LE(success, 1.0);
  EXPECT_NE(last.find("eval_return"), nullptr);
  fs::remove_all(dir);
}

TEST(TrainTest, AnEvaluatorUnderMpirunNeedsARankOfItsOwn) {
  EXPECT_THROW(load_train_config((source_dir() / "launch/configs/cartpole_ppo.yaml").string(),
                                 {"topology.evaluator=true"}),
               ConfigError);
  EXPECT_THROW(load_train_config((source_dir() / "launch/configs/cartpole_ppo.yaml").string(), {"evaluator.episodes=0"}),
               ConfigError);
}

// The V-trace algorithms run end to end with asynchronous actors and an LSTM (recurrent state,
// burn-in, the observation after each sequence) and log their off-policy statistics.
TEST(TrainTest, AppoAndImpalaTrainARecurrentPolicyWithAsyncActors) {
  for (const std::string algo : {"appo", "impala"}) {
    fs::path dir = fresh_dir(algo);
    auto c = cartpole({"learner.algo=" + algo, "actor.num_actors=2", "actor.sync=false", "actor.unroll_length=16",
                       "model.type=lstm", "model.layers=1", "model.d_model=16", "learner.burn_in=4",
                       "learner.log_every=1", "learner.total_env_steps=4096"});
    const TrainResult r = train_embedded(c, dir, false);
    EXPECT_GE(r.counters.env_steps, 4096) << algo;
    std::int64_t acted = 0;  // which actor acted how much depends on scheduling; that they did does not
    for (const auto& a : r.actor_stats) acted += a.env_steps;
    EXPECT_GE(acted, 4096) << algo;
    const auto lines = lines_of(dir / "metrics.jsonl");
    ASSERT_FALSE(lines.empty()) << algo;
    for (const auto& l : lines) {
      const json::Value v = json::parse(l, "metrics line");
      for (const char* key : {"rho_clip_frac", "policy_loss", "value_loss", "entropy"}) {
        ASSERT_NE(v.find(key), nullptr) << algo << ": no " << key << " in " << l;
        EXPECT_TRUE(std::isfinite(v.find(key)->as_double(key))) << algo << ": " << l;
      }
      const double rho = v.find("rho_clip_frac")->as_double("rho_clip_frac");
      EXPECT_GE(rho, 0.0) << l;
      EXPECT_LE(rho, 1.0) << l;
    }
    fs::remove_all(dir);
  }
}

TEST(TrainTest, ResumeContinuesFromTheLatestCheckpointWithCountersIntact) {
  fs::path dir = fresh_dir("resume");
  const std::int64_t per_update = 4 * 128;
  TrainResult first = train_embedded(cartpole({"learner.total_env_steps=" + std::to_string(5 * per_update), "learner.log_every=1"}), dir,
                                     false);
  EXPECT_EQ(first.counters.updates, 5);
  EXPECT_EQ(first.counters.env_steps, 5 * per_update);

  TrainArgs args;
  args.resume_dir = dir.string();
  args.overrides = {"learner.total_env_steps=" + std::to_string(8 * per_update), "run.progress=false"};
  TrainResult second = train(args);
  EXPECT_EQ(second.counters.updates, 8);
  EXPECT_EQ(second.counters.env_steps, 8 * per_update);
  CheckpointManager mgr(dir / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, 8);
  // Metrics continue in the same files, steps increasing across the two sessions.
  auto rows = lines_of(dir / "metrics.jsonl");
  ASSERT_GE(rows.size(), 2u);
  EXPECT_NE(rows.back().find("\"step\": 4096"), std::string::npos) << rows.back();
  fs::remove_all(dir);
}

// Exact resume: in sync mode on CPU, N updates, a stop and N more give the same parameters and
// metrics as 2N updates in one go. The checkpoint carries what the actor was in the middle of (its
// envs' episodes, the policy's recurrent state and previous inputs, its sampling RNG) besides the
// learner's model, optimizer, RNG and the windows of its logged means; the MLP case checks the envs
// and RNGs, the LSTM with previous inputs the policy's state too. The learning rate stays constant
// (anneal_lr off): annealed, it decays over total_env_steps, which differs between the N-update
// session and the 2N-update one (a preempted run resumed with its own total is exact either way).
void expect_resume_is_exact(const std::string& name, const std::vector<std::string>& sets) {
  const std::int64_t per_update = 4 * 128;
  auto with_steps = [&](std::int64_t updates) {
    std::vector<std::string> all = sets;
    all.push_back("learner.ppo.anneal_lr=false");
    all.push_back("learner.log_every=1");
    all.push_back("learner.total_env_steps=" + std::to_string(updates * per_update));
    return all;
  };
  const fs::path straight = fresh_dir(name + "-straight"), stopped = fresh_dir(name + "-stopped");
  train_embedded(cartpole(with_steps(8)), straight, false);
  train_embedded(cartpole(with_steps(4)), stopped, false);
  ASSERT_TRUE(fs::exists(stopped / "checkpoints" / "000000000004" / "actors" / "0.state"))
      << "the checkpoint holds no actor state";
  TrainArgs args;
  args.resume_dir = stopped.string();
  args.overrides = {"learner.total_env_steps=" + std::to_string(8 * per_update), "run.progress=false"};
  EXPECT_EQ(train(args).counters.updates, 8);
  const TrainedPolicy a = load_trained_policy(straight.string(), {}), b = load_trained_policy(stopped.string(), {});
  ASSERT_EQ(a.updates, 8);
  ASSERT_EQ(b.updates, 8);
  const auto pa = a.policy->parameters(), pb = b.policy->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  // Every metrics row alike, the resumed session's included, but for wall-clock measurements.
  auto strip = [](const std::string& l) {
    std::string out;
    for (const auto& [key, value] : json::parse(l, "metrics line").members)
      if (key != "time" && key != "sps" && key != "learner_idle_s") out += key + "=" + value.text + " ";
    return out;
  };
  const auto ra = lines_of(straight / "metrics.jsonl"), rb = lines_of(stopped / "metrics.jsonl");
  ASSERT_EQ(ra.size(), 8u);
  ASSERT_EQ(rb.size(), 8u);
  for (std::size_t i = 0; i < ra.size(); ++i) EXPECT_EQ(strip(ra[i]), strip(rb[i])) << "row " << i;
  fs::remove_all(straight);
  fs::remove_all(stopped);
}

TEST(TrainTest, SyncModeResumesExactlyNPlusNUpdatesEqual2N) { expect_resume_is_exact("exact-mlp", {}); }

TEST(TrainTest, SyncModeResumesARecurrentPolicyExactly) {
  expect_resume_is_exact("exact-lstm", {"model.type=lstm", "model.layers=1", "model.d_model=16",
                                        "model.encoder_hidden=[16]", "model.prev_action=true", "model.prev_reward=true",
                                        "env.name=masked_cartpole"});
}

TEST(TrainTest, ResumeRestoresTheReplayTableSavedWithTheCheckpoint) {
  fs::path dir = fresh_dir("resume-replay");
  const std::int64_t per_update = 4 * 128;
  // An off-policy table that never evicts here: every item of the first session must still be
  // there, unchanged, at the end of the second.
  TrainResult first = train_embedded(cartpole({"replay.checkpoint=true", "replay.table.sampler=uniform",
                                               "replay.table.max_size=64",
                                               "learner.total_env_steps=" + std::to_string(3 * per_update)}),
                                     dir, false);
  EXPECT_EQ(first.counters.updates, 3);
  CheckpointManager mgr(dir / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  ASSERT_EQ(mgr.latest()->step, 3);
  const fs::path table_file = fs::path("replay") / "0" / "table-000.bin";
  const replay::TableSnapshot saved = replay::read_table_snapshot(mgr.latest()->dir / table_file);
  ASSERT_GE(saved.items.size(), 4u);

  // The learner may not sample before the table holds everything the checkpoint had plus the first
  // unroll of the resumed actor (4 sequences). A sync-mode actor adds only that one update's worth
  // before it waits for the learner, so an empty table would wait here until the sample timeout:
  // only the restored items let training go on. Waiting for the actor's first unroll as well makes
  // the second session's inserts certain (a min_size table does not otherwise wait for the actor,
  // and the learner could finish both updates before the actor has started).
  TrainArgs args;
  args.resume_dir = dir.string();
  args.overrides = {"learner.total_env_steps=" + std::to_string(5 * per_update), "run.progress=false",
                    "replay.table.rate_limiter.min_size_to_sample=" + std::to_string(saved.items.size() + 4),
                    "replay.client.timeout_ms=60000"};
  TrainResult second = train(args);
  EXPECT_EQ(second.counters.updates, 5);
  ASSERT_EQ(mgr.latest()->step, 5);
  const replay::TableSnapshot after = replay::read_table_snapshot(mgr.latest()->dir / table_file);
  EXPECT_EQ(after.evicted, 0);
  EXPECT_GT(after.items.size(), saved.items.size());
  // Counters continue from the checkpoint's: the second session only added to them.
  EXPECT_EQ(after.inserts - saved.inserts, static_cast<std::int64_t>(after.items.size() - saved.items.size()));
  std::map<replay::Key, const replay::TableSnapshot::Entry*> by_key;
  for (const auto& e : after.items) by_key[e.key] = &e;
  for (const auto& e : saved.items) {
    auto it = by_key.find(e.key);
    ASSERT_NE(it, by_key.end()) << "item " << e.key << " of the checkpoint is missing after resume";
    ASSERT_EQ(it->second->fields.size(), e.fields.size());
    for (std::size_t f = 0; f < e.fields.size(); ++f) {
      const auto &x = e.fields[f].bytes, &y = it->second->fields[f].bytes;
      ASSERT_EQ(x.nbytes(), y.nbytes());
      EXPECT_EQ(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0) << "field " << e.fields[f].name << " of item " << e.key;
    }
  }

  // The manifest covers the replay files: a damaged table file makes latest() fall back.
  std::ofstream(mgr.latest()->dir / table_file, std::ios::app) << "x";
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, 3);
  fs::remove_all(dir);
}

// An LSTM that reads the previous action and reward trains end to end, and the sequences the
// actors stored carry the inputs it acted on: the step before's action and reward, "none" (-1, 0)
// at episode starts.
TEST(TrainTest, PrevActionAndRewardInputsTravelWithTheSequences) {
  fs::path dir = fresh_dir("prev-inputs");
  TrainResult r = train_embedded(
      cartpole({"model.type=lstm", "model.d_model=16", "model.layers=1", "model.prev_action=true",
                "model.prev_reward=true", "replay.checkpoint=true", "replay.table.sampler=uniform",
                "replay.table.max_size=64", "learner.total_env_steps=" + std::to_string(3 * 4 * 128)}),
      dir, false);
  EXPECT_EQ(r.counters.updates, 3);
  CheckpointManager mgr(dir / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  const replay::TableSnapshot saved =
      replay::read_table_snapshot(mgr.latest()->dir / "replay" / "0" / "table-000.bin");
  ASSERT_GE(saved.items.size(), 4u);
  std::int64_t checked = 0, starts = 0;
  for (const auto& e : saved.items) {
    std::map<std::string, const replay::ItemField*> f;
    for (const auto& field : e.fields) f[field.name] = &field;
    for (const char* name : {"action", "reward", "first", "prev_action", "prev_reward"})
      ASSERT_TRUE(f.count(name) && f[name]->codec == replay::Codec::kNone) << "item " << e.key << ": " << name;
    auto data = [&](const char* name) { return f[name]->bytes.raw(); };
    const auto* action = static_cast<const std::int64_t*>(data("action"));
    const auto* reward = static_cast<const float*>(data("reward"));
    const auto* first = static_cast<const std::uint8_t*>(data("first"));
    const auto* prev_action = static_cast<const std::int64_t*>(data("prev_action"));
    const auto* prev_reward = static_cast<const float*>(data("prev_reward"));
    for (std::int64_t t = 0; t < shape_numel(f["reward"]->shape); ++t) {
      if (first[t]) {
        EXPECT_EQ(prev_action[t], -1) << "item " << e.key << " t " << t;
        EXPECT_EQ(prev_reward[t], 0.0f) << "item " << e.key << " t " << t;
        ++starts;
      } else if (t > 0) {
        EXPECT_EQ(prev_action[t], action[t - 1]) << "item " << e.key << " t " << t;
        EXPECT_EQ(prev_reward[t], reward[t - 1]) << "item " << e.key << " t " << t;
        ++checked;
      } else {
        EXPECT_TRUE(prev_action[t] == 0 || prev_action[t] == 1) << "item " << e.key;
        EXPECT_EQ(prev_reward[t], 1.0f) << "item " << e.key;  // CartPole rewards every step with 1
      }
    }
  }
  EXPECT_GT(checked, 100);
  EXPECT_GT(starts, 0);
  fs::remove_all(dir);
}

TEST(TrainTest, ResumeWithoutACheckpointIsAClearError) {
  fs::path dir = fresh_dir("nockpt");
  fs::create_directories(dir);
  TrainArgs args;
  args.resume_dir = dir.string();
  EXPECT_THROW(train(args), ConfigError);
  fs::remove_all(dir);
}

TEST(TrainTest, ReplayRejectsGarbageWhileTrainingGoesOn) {
  fs::path dir = fresh_dir("garbage");
  // A run far longer than the test: a fixed step count could be reached before the garbage below is
  // answered (then the server is gone). The test stops it, as SIGINT would, once the learner has
  // gone on updating after the garbage.
  auto c = cartpole({"learner.total_env_steps=100000000", "learner.log_every=1", "run.transport=tcp"});
  interrupt_flag() = false;
  auto run = std::async(std::launch::async, [&] { return train_embedded(c, dir, false); });
  // However this test ends, the run is stopped before `run`'s destructor waits for it.
  struct StopRun {
    std::future<TrainResult>& run;
    ~StopRun() {
      if (run.valid()) {
        interrupt_flag() = true;
        run.wait();
      }
      interrupt_flag() = false;
    }
  } stop_run{run};

  // Wait (bounded) for the run to publish its endpoints.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string replay_ep;
  while (replay_ep.empty() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& l : lines_of(dir / "endpoints"))
      if (l.rfind("replay ", 0) == 0) replay_ep = l.substr(7);
    if (replay_ep.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(replay_ep.empty());
  ASSERT_EQ(replay_ep.rfind("tcp://", 0), 0u);

  zmq::socket_t raw(transport::context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 30000);
  raw.connect(replay_ep);
  std::mt19937 rng(7);
  int errors = 0;
  for (int i = 0; i < 20; ++i) {
    std::string junk(1 + rng() % 300, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    raw.send(zmq::buffer(junk), zmq::send_flags::sndmore);
    raw.send(zmq::buffer(junk.substr(0, junk.size() / 2)), zmq::send_flags::none);
    zmq::message_t reply;
    auto got = raw.recv(reply, zmq::recv_flags::none);
    ASSERT_TRUE(got.has_value()) << "no reply to garbage message " << i;
    std::vector<wire::Frame> frames{wire::Frame::copy_of(reply.data(), reply.size())};
    while (reply.more()) {
      ASSERT_TRUE(raw.recv(reply, zmq::recv_flags::none).has_value());
      frames.push_back(wire::Frame::copy_of(reply.data(), reply.size()));
    }
    if (wire::decode(std::move(frames)).type == wire::MsgType::kError) ++errors;
  }
  EXPECT_EQ(errors, 20);

  // Training goes on: the learner logs (log_every 1) further updates after the garbage.
  const std::size_t before = lines_of(dir / "metrics.jsonl").size();
  const std::size_t want = before + 3;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (lines_of(dir / "metrics.jsonl").size() < want && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(lines_of(dir / "metrics.jsonl").size(), want) << "the learner stopped updating after the garbage";

  interrupt_flag() = true;
  TrainResult r = run.get();  // rethrows a failure of the run
  interrupt_flag() = false;
  EXPECT_GE(r.counters.updates, static_cast<std::int64_t>(want));
  bool logged = false;
  for (const auto& l : lines_of(dir / "logs" / "rank-0.log"))
    if (l.find("127.0.0.1") != std::string::npos && l.find(" W ") != std::string::npos) logged = true;
  EXPECT_TRUE(logged) << "rejections are logged with the peer address";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::launch

namespace mnemo::launch {
namespace {

TEST(TrainTest, RunDirectoryHasATensorBoardEventFile) {
  fs::path dir = fresh_dir("tfevents");
  train_embedded(cartpole({"learner.total_env_steps=2560", "learner.log_every=1"}), dir, false);
  bool found = false;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0 && fs::file_size(e.path()) > 100) found = true;
  EXPECT_TRUE(found);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::launch
