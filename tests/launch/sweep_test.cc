// Tests of `mnemo sweep`: grid expansion and trial names, spec errors, Slurm scripts, the sweep
// directory, and (through the mnemo executable) running, interrupting, resuming and submitting.
#include "launch/sweep.h"

#include <gtest/gtest.h>

#include <set>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/runlog/checkpoint.h"
#include "launch/cli.h"
#include "launch/train_config.h"

namespace mnemo::launch {
namespace {

namespace fs = std::filesystem;

std::string source_path(const std::string& rel) {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return fs::absolute(fs::path(s != nullptr ? s : ".") / rel).string();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The mnemo executable: $MNEMO_BINARY, else <build>/mnemo next to this test's <build>/tests/.
std::string mnemo_binary() {
  if (const char* b = std::getenv("MNEMO_BINARY")) return b;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : (self.parent_path().parent_path() / "mnemo").string();
}

class SweepTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mnemo-sweep-" + std::to_string(::getpid()) + "-" + testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A spec file in the test directory; `body` follows the name/config/dir lines.
  std::string write_spec(const std::string& body, const std::string& name = "s") {
    const fs::path p = dir_ / (name + ".yaml");
    std::ofstream(p) << "name: " << name << "\nconfig: " << source_path("launch/configs/cartpole_ppo.yaml")
                     << "\ndir: " << (dir_ / "runs").string() << "\n"
                     << body;
    return p.string();
  }

  // Runs the mnemo executable with `args` (shell-quoted here), output to out.txt; the exit code.
  int mnemo(const std::vector<std::string>& args, const std::string& env = "") {
    std::string cmd = env + " '" + binary_ + "'";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " > '" + (dir_ / "out.txt").string() + "' 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string out() const { return slurp(dir_ / "out.txt"); }
  bool have_binary() {
    binary_ = mnemo_binary();
    return !binary_.empty() && fs::exists(binary_);
  }

  fs::path dir_;
  std::string binary_;
};

TEST_F(SweepTest, ExpandsTheGridInSpecOrderWithSeedsInnermost) {
  SweepSpec spec = load_sweep_spec(write_spec(
      "seeds: [1, 2]\ngrid:\n  learner.ppo.lr: [1e-3, 3e-4]\n  model.hidden: [[64, 64], [32]]\n"));
  const auto trials = expand_trials(spec);
  ASSERT_EQ(trials.size(), 8u);
  EXPECT_EQ(trials[0].name, "lr=1e-3-hidden=64x64-seed1");
  EXPECT_EQ(trials[1].name, "lr=1e-3-hidden=64x64-seed2");
  EXPECT_EQ(trials[2].name, "lr=1e-3-hidden=32-seed1");
  EXPECT_EQ(trials[7].name, "lr=3e-4-hidden=32-seed2");
  EXPECT_EQ(trials[7].group, "lr=3e-4-hidden=32");
  EXPECT_EQ(trials[5].index, 5u);
  EXPECT_EQ(trials[5].seed, 2u);
  const std::vector<std::string> expected = {"learner.ppo.lr=3e-4", "model.hidden=[64, 64]",
                                             "run.name=lr=3e-4-hidden=64x64-seed2", "run.seed=2"};
  EXPECT_EQ(trials[5].overrides, expected);
}

// Random search: N seeded samples per grid point, every value inside its distribution, the same
// trials from the same spec, other trials from another search seed.
TEST_F(SweepTest, RandomSearchDrawsSeededSamplesPerGridPoint) {
  const std::string space =
      "  space:\n    learner.ppo.lr: {log_uniform: [1e-5, 1e-2]}\n    learner.ppo.ent_coef: {uniform: [0, 0.05]}\n"
      "    learner.ppo.epochs: {int: [2, 8]}\n    model.hidden: {choice: [[64, 64], [32]]}\n";
  const auto trials = expand_trials(load_sweep_spec(
      write_spec("seeds: [1, 2]\ngrid:\n  learner.ppo.clip: [0.1, 0.2]\nsearch:\n  samples: 12\n  seed: 7\n" + space)));
  ASSERT_EQ(trials.size(), 2u * 12u * 2u);
  EXPECT_EQ(trials[0].name, "clip=0.1-s00-seed1");
  EXPECT_EQ(trials[1].name, "clip=0.1-s00-seed2");
  EXPECT_EQ(trials[47].name, "clip=0.2-s11-seed2");
  std::set<std::string> epochs, hidden, lrs;
  for (const auto& t : trials) {
    ASSERT_EQ(t.overrides.size(), 7u) << t.name;  // clip, 4 sampled keys, run.name, run.seed
    auto value = [&](std::size_t i) { return t.overrides[i].substr(t.overrides[i].find('=') + 1); };
    const double lr = std::stod(value(1)), ent = std::stod(value(2));
    EXPECT_TRUE(lr >= 1e-5 && lr <= 1e-2) << t.overrides[1];
    EXPECT_TRUE(ent >= 0 && ent <= 0.05) << t.overrides[2];
    const int e = std::stoi(value(3));
    EXPECT_TRUE(e >= 2 && e <= 8) << t.overrides[3];
    lrs.insert(value(1));
    epochs.insert(value(3));
    hidden.insert(value(4));
  }
  EXPECT_EQ(lrs.size(), 12u) << "every sample draws its own lr; grid points share the samples";
  EXPECT_GT(epochs.size(), 3u);
  EXPECT_EQ(hidden, (std::set<std::string>{"[64, 64]", "[32]"}));
  // Seeds of the trials do not change the samples; the same grid point's seeds share them.
  EXPECT_EQ(trials[0].overrides[1], trials[1].overrides[1]);
  // Reproducible from the spec; another search seed, other samples.
  const auto again = expand_trials(load_sweep_spec(
      write_spec("seeds: [1, 2]\ngrid:\n  learner.ppo.clip: [0.1, 0.2]\nsearch:\n  samples: 12\n  seed: 7\n" + space)));
  const auto other = expand_trials(load_sweep_spec(
      write_spec("seeds: [1, 2]\ngrid:\n  learner.ppo.clip: [0.1, 0.2]\nsearch:\n  samples: 12\n  seed: 8\n" + space)));
  for (std::size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].overrides, again[i].overrides);
  EXPECT_NE(trials[0].overrides[1], other[0].overrides[1]);
  // Without a grid the samples name the points.
  const auto alone = expand_trials(load_sweep_spec(write_spec("search:\n  samples: 3\n" + space)));
  ASSERT_EQ(alone.size(), 3u);
  EXPECT_EQ(alone[2].name, "s2-seed1");
}

// Variants: named conditions that are not a grid (an ablation), each running the whole grid.
TEST_F(SweepTest, VariantsAreNamedConditionsEachRunningTheGrid) {
  const auto trials = expand_trials(load_sweep_spec(write_spec(
      "seeds: [1, 2]\nvariants:\n  scratch: {}\n  big:\n    model.hidden: [256, 256]\n    learner.ppo.epochs: 8\n"
      "grid:\n  learner.ppo.lr: [1e-3, 3e-4]\n")));
  ASSERT_EQ(trials.size(), 2u * 2u * 2u);
  EXPECT_EQ(trials[0].name, "scratch-lr=1e-3-seed1");
  EXPECT_EQ(trials[3].name, "scratch-lr=3e-4-seed2");
  EXPECT_EQ(trials[4].name, "big-lr=1e-3-seed1");
  EXPECT_EQ(trials[4].group, "big-lr=1e-3");
  const std::vector<std::string> scratch = {"learner.ppo.lr=1e-3", "run.name=scratch-lr=1e-3-seed1", "run.seed=1"};
  EXPECT_EQ(trials[0].overrides, scratch);
  const std::vector<std::string> big = {"model.hidden=[256, 256]", "learner.ppo.epochs=8", "learner.ppo.lr=3e-4",
                                        "run.name=big-lr=3e-4-seed2", "run.seed=2"};
  EXPECT_EQ(trials[7].overrides, big);
  // Without a grid the variant names the point.
  const auto alone = expand_trials(load_sweep_spec(write_spec("variants:\n  a:\n  b: {model.type: lstm}\n")));
  ASSERT_EQ(alone.size(), 2u);
  EXPECT_EQ(alone[0].name, "a-seed1");
  EXPECT_EQ(alone[1].name, "b-seed1");
  EXPECT_EQ(alone[1].overrides.front(), "model.type=lstm");
}

TEST_F(SweepTest, WithoutAGridEachSeedIsOneTrialNamedAfterTheSweep) {
  const auto trials = expand_trials(load_sweep_spec(write_spec("seeds: [3, 4, 5]\n", "base")));
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0].name, "base-seed3");
  EXPECT_EQ(trials[2].overrides.back(), "run.seed=5");
}

TEST_F(SweepTest, LabelsUseTheWholeKeyWhenLastComponentsCollide) {
  const auto trials = expand_trials(load_sweep_spec(write_spec("grid:\n  learner.ppo.lr: [1]\n  model.lr: [2]\n")));
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].name, "learner.ppo.lr=1-model.lr=2-seed1");
}

TEST_F(SweepTest, BadSpecsAreConfigErrorsNamingTheKey) {
  auto message = [&](const std::string& body) {
    try {
      expand_trials(load_sweep_spec(write_spec(body)));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("seed: [1]\n").find("did you mean 'sweep.seeds'"), std::string::npos) << message("seed: [1]\n");
  EXPECT_NE(message("grid:\n  learner.ppo.lr: 1e-3\n").find("grid.learner.ppo.lr must be a list"), std::string::npos);
  EXPECT_NE(message("grid:\n  learner.ppo.lr: []\n").find("empty list"), std::string::npos);
  EXPECT_NE(message("grid:\n  learner.ppo.lr: [1, 1]\n").find("lists 1 twice"), std::string::npos);
  EXPECT_NE(message("seeds: [1, 1]\n").find("seed twice"), std::string::npos);
  EXPECT_NE(message("seeds: []\n").find("at least one seed"), std::string::npos);
  EXPECT_NE(message("slurm: {launcher: ssh}\n").find("srun or mpirun"), std::string::npos);
  const std::string lr = "  space:\n    learner.ppo.lr: ";
  EXPECT_NE(message("search:\n  samples: 0\n" + lr + "{uniform: [0, 1]}\n").find("search.samples"), std::string::npos);
  EXPECT_NE(message("search:\n  samples: 2\n" + lr + "{normal: [0, 1]}\n").find("unknown distribution 'normal'"),
            std::string::npos);
  EXPECT_NE(message("search:\n  samples: 2\n" + lr + "{uniform: [1, 0]}\n").find("LOW <= HIGH"), std::string::npos);
  EXPECT_NE(message("search:\n  samples: 2\n" + lr + "{log_uniform: [0, 1]}\n").find("LOW > 0"), std::string::npos);
  EXPECT_NE(message("search:\n  samples: 2\n" + lr + "{int: [1.5, 3]}\n").find("integers"), std::string::npos);
  EXPECT_NE(message("search:\n  samples: 2\n" + lr + "{uniform: [a, 1]}\n").find("must be numbers"), std::string::npos);
  EXPECT_NE(message("grid:\n  learner.ppo.lr: [1]\nsearch:\n  samples: 2\n" + lr + "{uniform: [0, 1]}\n")
                .find("also in the grid"),
            std::string::npos);
  EXPECT_NE(message("search:\n  samples: 2\n  sead: 1\n" + lr + "{uniform: [0, 1]}\n").find("no key 'sead'"),
            std::string::npos);
  EXPECT_NE(message("slurm: {mpi: 'pmix; rm -rf /'}\n").find("slurm.mpi"), std::string::npos);
  EXPECT_NE(message("slurm: {extra: [qos=long]}\n").find("#SBATCH options"), std::string::npos);
  EXPECT_NE(message("grid: [1, 2]\n").find("grid must be a mapping"), std::string::npos);
  EXPECT_NE(message("variants: [a, b]\n").find("variants must be a mapping"), std::string::npos);
  EXPECT_NE(message("variants:\n  a/b: {}\n").find("variant name 'a/b'"), std::string::npos);
  EXPECT_NE(message("variants:\n  a: [1]\n").find("variants.a must be a mapping"), std::string::npos);
  EXPECT_NE(message("variants:\n  a: {learner.ppo.lr: 1}\ngrid:\n  learner.ppo.lr: [1, 2]\n")
                .find("variants.a.learner.ppo.lr is also in the grid"),
            std::string::npos);
}

TEST_F(SweepTest, WholeSectionsCanBeGridValues) {
  const Sweep s = create_sweep(
      load_sweep_spec(write_spec("grid:\n  env: [{name: cartpole, max_steps: 100}, {name: cartpole, max_steps: 200}]\n")), {});
  ASSERT_EQ(s.trials.size(), 2u);
  EXPECT_EQ(s.trials[1].overrides[0], "env={name: cartpole, max_steps: 200}");
  const TrainConfig c = load_train_config((s.dir / "base.yaml").string(), s.trials[1].overrides);
  EXPECT_NE(resolved_yaml(c).find("max_steps: 200"), std::string::npos);
}

TEST_F(SweepTest, ShippedSweepSpecsExpandIntoValidTrials) {
  std::size_t specs = 0;
  for (const auto& e : fs::directory_iterator(source_path("launch/configs/sweeps"))) {
    testing::internal::CaptureStdout();
    EXPECT_EQ(run_cli({"sweep", e.path().string(), "--dry-run"}), 0) << e.path();
    const std::string o = testing::internal::GetCapturedStdout();
    EXPECT_NE(o.find("every trial's config is valid"), std::string::npos) << o;
    ++specs;
  }
  EXPECT_GE(specs, 2u);
}

TEST(SweepArrayTest, ArrayRangesCompressConsecutiveIndices) {
  EXPECT_EQ(array_ranges({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(array_ranges({4}), "4");
  EXPECT_EQ(array_ranges({1, 3}), "1,3");
}

TEST_F(SweepTest, SlurmScriptRunsEachUnfinishedTrialAsAnArrayTask) {
  SweepSpec spec = load_sweep_spec(write_spec(
      "slurm:\n  partition: gpu\n  time: '04:00:00'\n  max_parallel: 3\n  gpus_per_node: 1\n"
      "  setup: [module load openmpi]\n  extra: [--qos=long]\n"));
  spec.workdir = "/work/dir";
  const std::string s = slurm_script(spec, "/sweeps/s", {0, 1, 2, 5}, "/opt/mnemo/bin/mnemo");
  EXPECT_EQ(s.rfind("#!/bin/bash\n", 0), 0u);
  for (const char* line :
       {"#SBATCH --array=0-2,5%3\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=04:00:00\n",
        "#SBATCH --gpus-per-node=1\n", "#SBATCH --signal=TERM@120\n", "#SBATCH --requeue\n", "#SBATCH --qos=long\n",
        "#SBATCH --chdir=/work/dir\n", "#SBATCH --output=/sweeps/s/slurm/%A_%a.out\n", "module load openmpi\n",
        "srun --mpi=pmix '/opt/mnemo/bin/mnemo' sweep --trial \"$SLURM_ARRAY_TASK_ID\" '/sweeps/s'\n"})
    EXPECT_NE(s.find(line), std::string::npos) << line << "\n" << s;
  EXPECT_EQ(s.find("--account"), std::string::npos) << s;
  // The MPI plugin is the site's to choose; empty leaves srun's default.
  spec.slurm.mpi = "pmi2";
  EXPECT_NE(slurm_script(spec, "/sweeps/s", {0}, "mnemo").find("srun --mpi=pmi2 'mnemo'"), std::string::npos);
  spec.slurm.mpi = "";
  EXPECT_NE(slurm_script(spec, "/sweeps/s", {0}, "mnemo").find("srun 'mnemo'"), std::string::npos);
  // The trial command comes after every #SBATCH line, or sbatch ignores the later ones.
  EXPECT_LT(s.rfind("#SBATCH"), s.find("srun"));
}

// Arrays past the cluster's MaxArraySize: split, each array's task ids offset back into range.
TEST_F(SweepTest, LargeSweepsSplitIntoArraysBelowTheMaxArraySize) {
  const auto arrays = split_arrays({0, 1, 2, 5, 7, 8}, 3);
  ASSERT_EQ(arrays.size(), 3u);
  EXPECT_EQ(arrays[0], (std::pair<std::size_t, std::vector<std::size_t>>{0, {0, 1, 2}}));
  EXPECT_EQ(arrays[1], (std::pair<std::size_t, std::vector<std::size_t>>{3, {5}}));
  EXPECT_EQ(arrays[2], (std::pair<std::size_t, std::vector<std::size_t>>{6, {7, 8}}));
  SweepSpec spec = load_sweep_spec(write_spec("slurm: {max_parallel: 2}\n"));
  const std::string s = slurm_script(spec, "/sweeps/s", arrays[2].second, "mnemo", arrays[2].first);
  EXPECT_NE(s.find("#SBATCH --array=1-2%2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("sweep --trial \"$((SLURM_ARRAY_TASK_ID + 6))\""), std::string::npos) << s;
  EXPECT_EQ(split_arrays({0, 1000, 1001, 2500}, 1001).size(), 3u);  // ids 0-1000 are valid
}

TEST_F(SweepTest, CreatingValidatesEveryTrialBeforeWritingAnything) {
  SweepSpec spec = load_sweep_spec(write_spec("grid:\n  learner.ppo.lrr: [1e-3]\n"));
  try {
    create_sweep(spec, {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("trial 0"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'learner.ppo.lr'"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(dir_ / "runs"));
  // A bad --set for every trial, too.
  SweepSpec ok = load_sweep_spec(write_spec("grid:\n  learner.ppo.lr: [1e-3]\n"));
  EXPECT_THROW(create_sweep(ok, {"env.max_steps=-1"}), ConfigError);
  EXPECT_FALSE(fs::exists(dir_ / "runs" / "s"));
}

TEST_F(SweepTest, CreatesTheSweepDirectoryOnceAndReopensIt) {
  SweepSpec spec = load_sweep_spec(write_spec("seeds: [1, 2]\ngrid:\n  learner.ppo.lr: [1e-3, 3e-4]\nset:\n  learner.total_env_steps: 1024\n"));
  const Sweep s = create_sweep(spec, {"actor.num_envs=2"});
  EXPECT_EQ(s.dir, dir_ / "runs" / "s");
  ASSERT_EQ(s.trials.size(), 4u);
  const std::string base = slurp(s.dir / "base.yaml");
  EXPECT_NE(base.find("total_env_steps: 1024"), std::string::npos);
  EXPECT_NE(base.find("num_envs: 2"), std::string::npos);
  EXPECT_NE(slurp(s.dir / "trials.tsv").find("3\tlr=3e-4-seed2\t2\t--set learner.ppo.lr=3e-4"), std::string::npos);
  const Sweep again = open_sweep(s.dir);
  ASSERT_EQ(again.trials.size(), 4u);
  EXPECT_EQ(again.trials[3].name, s.trials[3].name);
  EXPECT_EQ(again.spec.workdir, fs::current_path().string());
  for (const auto& t : again.trials) EXPECT_EQ(trial_state(s.dir, t), TrialState::kPending);
  // The same name again is refused, pointing at --resume.
  try {
    create_sweep(spec, {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  EXPECT_EQ(run_cli({"sweep", "--status", s.dir.string()}), 0);
  EXPECT_EQ(run_cli({"sweep", "--trial", "4", s.dir.string()}), 2);
  EXPECT_EQ(run_cli({"sweep", "--status", (dir_ / "nothing").string()}), 2);
  EXPECT_EQ(run_cli({"sweep", "--resume", s.dir.string(), "--set", "a=1"}), 2);
  EXPECT_EQ(run_cli({"sweep", "--jobs", "0", write_spec("")}), 2);
}

TEST_F(SweepTest, RunsTrialsInParallelThenPlotsAndSummarisesThem) {
  if (!have_binary()) GTEST_SKIP() << "the mnemo executable is not built";
  const std::string spec = write_spec(
      "seeds: [1, 2]\ngrid:\n  learner.ppo.lr: [1e-3, 1e-4]\n"
      "set:\n  learner.total_env_steps: 2048\n  learner.checkpoint_every: 0\n  learner.log_every: 1\n");
  ASSERT_EQ(mnemo({"sweep", spec, "--jobs", "2"}), 0) << out();
  const fs::path sweep = dir_ / "runs" / "s";
  const std::string o = out();
  EXPECT_NE(o.find("4 trials, 0 done, 4 to run, 2 at a time"), std::string::npos) << o;
  EXPECT_NE(o.find("4 done"), std::string::npos) << o;
  EXPECT_NE(o.find("lr=1e-4  "), std::string::npos) << o;  // the per-grid-point summary
  for (const char* t : {"lr=1e-3-seed1", "lr=1e-3-seed2", "lr=1e-4-seed1", "lr=1e-4-seed2"}) {
    EXPECT_TRUE(fs::exists(sweep / "done" / (std::string(t) + ".json"))) << t;
    EXPECT_TRUE(fs::exists(sweep / t / "metrics.csv")) << t;
    EXPECT_NE(slurp(sweep / t / "config.yaml").find(std::string("name: \"") + t + "\""), std::string::npos) << t;
  }
  EXPECT_NE(slurp(sweep / "lr=1e-4-seed2" / "config.yaml").find("lr: 0.0001"), std::string::npos);
  const TrialResult r = read_trial_result(sweep, open_sweep(sweep).trials[0]);
  EXPECT_EQ(r.env_steps, 2048);
  EXPECT_GT(r.recent_return, 0);

  // Nothing left to do: resuming runs nothing.
  ASSERT_EQ(mnemo({"sweep", "--resume", sweep.string()}), 0) << out();
  EXPECT_NE(out().find("4 done, 0 to run"), std::string::npos) << out();
  ASSERT_EQ(mnemo({"sweep", "--trial", "1", sweep.string()}), 0) << out();
  EXPECT_NE(out().find("already done"), std::string::npos) << out();

  // The sweep directory plots as its trials, one band per grid point.
  const fs::path png = dir_ / "curves.png";
  ASSERT_EQ(mnemo({"plot", sweep.string(), "--metric", "episode_return", "--mean", "--out", png.string()}), 0) << out();
  EXPECT_NE(out().find("2 curve(s)"), std::string::npos) << out();
  EXPECT_GT(fs::file_size(png), 1000u);
}

TEST_F(SweepTest, AnInterruptedTrialResumesFromItsCheckpoint) {
  if (!have_binary()) GTEST_SKIP() << "the mnemo executable is not built";
  const std::string spec = write_spec("set:\n  learner.total_env_steps: 60000\n  learner.checkpoint_every: 1\n");
  ASSERT_EQ(run_cli({"sweep", spec, "--dry-run"}), 0);
  const Sweep s = create_sweep(load_sweep_spec(spec), {});
  const Trial& t = s.trials[0];
  // Start the trial, stop it with SIGTERM (as Slurm does before a time limit) once it has a checkpoint.
  // Everything the child needs is prepared before fork(): between fork and exec it only makes
  // async-signal-safe calls (no allocation, no stdio locks another thread may have held).
  const std::string log = (dir_ / "trial.out").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(binary_.c_str(), binary_.c_str(), "sweep", "--trial", "0", s.dir.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  // A failed assertion below must not leave the trial training on in the background.
  struct KillOnExit {
    pid_t pid;
    ~KillOnExit() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } child{pid};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (trial_state(s.dir, t) != TrialState::kCheckpointed && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(trial_state(s.dir, t), TrialState::kCheckpointed) << slurp(dir_ / "trial.out");
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  // The trial finishes its update, checkpoints and exits: bounded, generously for a loaded machine.
  int status = 0;
  pid_t reaped = 0;
  const auto exit_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while ((reaped = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < exit_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(reaped, pid) << "the trial did not exit within 180 s of SIGTERM\n" << slurp(dir_ / "trial.out");
  child.pid = 0;
  ASSERT_TRUE(WIFEXITED(status)) << slurp(dir_ / "trial.out");
  ASSERT_EQ(WEXITSTATUS(status), kTrialInterrupted) << slurp(dir_ / "trial.out");
  EXPECT_EQ(trial_state(s.dir, t), TrialState::kCheckpointed);
  const auto stopped_at = CheckpointManager(s.dir / t.name / "checkpoints").latest()->step;
  EXPECT_EQ(run_cli({"sweep", "--status", s.dir.string()}), 0);

  ASSERT_EQ(mnemo({"sweep", "--resume", s.dir.string()}), 0) << out();
  EXPECT_EQ(trial_state(s.dir, t), TrialState::kDone);
  EXPECT_NE(slurp(s.dir / "logs" / (t.name + ".out")).find("resuming"), std::string::npos);
  EXPECT_GE(read_trial_result(s.dir, t).env_steps, 60000) << "resumed from update " << stopped_at;
  EXPECT_FALSE(fs::exists(s.dir / "attempts"));
}

TEST_F(SweepTest, ADeadAttemptWithoutACheckpointIsMovedAsideAndRestarted) {
  if (!have_binary()) GTEST_SKIP() << "the mnemo executable is not built";
  const Sweep s = create_sweep(load_sweep_spec(write_spec("set:\n  learner.total_env_steps: 1024\n")), {});
  fs::create_directories(s.dir / s.trials[0].name / "logs");
  std::ofstream(s.dir / s.trials[0].name / "logs" / "rank-0.log") << "the crash of an earlier attempt\n";
  EXPECT_EQ(trial_state(s.dir, s.trials[0]), TrialState::kStarted);
  ASSERT_EQ(mnemo({"sweep", "--trial", "0", s.dir.string()}), 0) << out();
  EXPECT_EQ(trial_state(s.dir, s.trials[0]), TrialState::kDone);
  EXPECT_EQ(slurp(s.dir / "attempts" / (s.trials[0].name + ".1") / "logs" / "rank-0.log"),
            "the crash of an earlier attempt\n");
}

TEST_F(SweepTest, SubmitWritesTheArrayOfUnfinishedTrialsAndCallsSbatch) {
  if (!have_binary()) GTEST_SKIP() << "the mnemo executable is not built";
  const Sweep s = create_sweep(load_sweep_spec(write_spec("seeds: [1, 2, 3]\ngrid:\n  learner.ppo.lr: [1e-3, 1e-4]\n")), {});
  // Trial 1 finished earlier (its result file is what marks it done).
  fs::create_directories(s.dir / "done");
  std::ofstream(s.dir / "done" / (s.trials[1].name + ".json")) << "{\"return\": 1}";
  // A stand-in sbatch that records how it was called.
  const fs::path bin = dir_ / "bin";
  fs::create_directories(bin);
  std::ofstream(bin / "sbatch") << "#!/bin/sh\necho \"$@\" > '" << (dir_ / "sbatch.args").string()
                                << "'\necho Submitted batch job 42\n";
  fs::permissions(bin / "sbatch", fs::perms::owner_all);
  ASSERT_EQ(mnemo({"sweep", "--resume", s.dir.string(), "--submit"}, "PATH='" + bin.string() + "':\"$PATH\""), 0) << out();
  EXPECT_NE(out().find("Submitted batch job 42"), std::string::npos) << out();
  EXPECT_EQ(slurp(dir_ / "sbatch.args"), (s.dir / "sweep.sbatch").string() + "\n");
  const std::string script = slurp(s.dir / "sweep.sbatch");
  EXPECT_NE(script.find("#SBATCH --array=0,2-5\n"), std::string::npos) << script;
  EXPECT_NE(script.find("sweep --trial \"$SLURM_ARRAY_TASK_ID\" '" + s.dir.string() + "'"), std::string::npos) << script;
  // Without sbatch on the PATH (here: an empty directory, so a machine with Slurm installed tests
  // this too), --submit says so. OpenMPI's singleton start wants an rsh agent: name one.
  const fs::path empty = dir_ / "empty-bin";
  fs::create_directories(empty);
  EXPECT_EQ(mnemo({"sweep", "--resume", s.dir.string(), "--submit"},
                  "OMPI_MCA_plm_rsh_agent=/bin/false PATH='" + empty.string() + "'"),
            1);
  EXPECT_NE(out().find("cannot run sbatch"), std::string::npos) << out();
}

}  // namespace
}  // namespace mnemo::launch
