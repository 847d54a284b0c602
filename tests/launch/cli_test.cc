// Tests of the command line: the command table, both spellings of every flag, --help, exit codes
// and messages for bad input.
#include "launch/cli.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "launch/collect.h"
#include "launch/command.h"
#include "launch/dataset_cmd.h"
#include "launch/eval.h"
#include "launch/export.h"
#include "launch/keygen.h"
#include "launch/pretrain_lm.h"
#include "launch/render.h"
#include "launch/sweep.h"

namespace mnemo::launch {
namespace {

std::string config_path() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return (std::filesystem::path(s != nullptr ? s : ".") / "launch/configs/cartpole_ppo.yaml").string();
}

TEST(CliTest, BadInputExitsWithCode2) {
  EXPECT_EQ(run_cli({}), 2);
  EXPECT_EQ(run_cli({"frobnicate"}), 2);
  EXPECT_EQ(run_cli({"config"}), 2);
  EXPECT_EQ(run_cli({"config", "/nonexistent.yaml"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "learner.ppo.lrr=1"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "learner.ppo.lr=fast"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--bogus"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "env.name=nosuchenv"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "env.max_steps=-1"}), 2);
  EXPECT_EQ(run_cli({"train"}), 2);
}

TEST(CliTest, UnknownKeyMessageNamesKeySourceAndNearestKey) {
  testing::internal::CaptureStderr();
  run_cli({"config", config_path(), "--set", "learner.ppo.lrr=1"});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("learner.ppo.lrr"), std::string::npos) << err;
  EXPECT_NE(err.find("--set learner.ppo.lrr=1"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean 'learner.ppo.lr'"), std::string::npos) << err;
}

TEST(CliTest, ConfigPrintsTheResolvedConfigWithOverrides) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "learner.ppo.lr=0.001"}), 0);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("lr: 0.001"), std::string::npos) << out;
  EXPECT_NE(out.find("max_steps: 500"), std::string::npos) << out;
}

TEST(CliTest, EnvsListsCartPole) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_cli({"envs"}), 0);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("cartpole"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::launch

namespace mnemo::launch {
namespace {

TEST(CliTest, RenderWritesAnAnimatedGif) {
  auto out = std::filesystem::temp_directory_path() / ("mnemo-render-" + std::to_string(::getpid()) + ".gif");
  ASSERT_EQ(run_cli({"render", "tmaze", "--set", "corridor_length=5", "--steps", "8", "--out", out.string()}), 0);
  std::FILE* f = std::fopen(out.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  char magic[6] = {0};
  ASSERT_EQ(std::fread(magic, 1, 6, f), 6u);
  std::fclose(f);
  EXPECT_EQ(std::string(magic, 6), "GIF89a");
  std::filesystem::remove(out);
  EXPECT_EQ(run_cli({"render", "nosuchenv", "--out", out.string()}), 2);
}

}  // namespace
}  // namespace mnemo::launch

namespace mnemo::launch {
namespace {

struct CliRun {
  int code = 0;
  std::string out, err;
};

CliRun cli(const std::vector<std::string>& args) {
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  CliRun r;
  r.code = run_cli(args);
  r.out = testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

// Parses a command line through a command's own binding, as run_cli does.
template <class Options>
Options parse(void (*declare)(CommandArgs&, Options&), const std::vector<std::string>& argv) {
  Options o;
  CommandArgs args;
  declare(args, o);
  args.parse(argv);
  return o;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + ";";
  return s;
}

std::string describe(const EvalOptions& o) {
  std::ostringstream s;
  s << o.source << "|" << joined(o.overrides) << "|" << o.episodes << "|" << o.envs << "|" << o.seed << "|"
    << o.stochastic << "|" << o.gif << "|" << o.fps;
  return s.str();
}

std::string describe(const CollectOptions& o) {
  std::ostringstream s;
  s << o.config << "|" << o.policy << "|" << joined(o.overrides) << "|" << o.episodes << "|" << o.out << "|" << o.format
    << "|" << o.envs << "|" << (o.seed ? std::to_string(*o.seed) : "none") << "|" << o.stochastic;
  return s.str();
}

std::string describe(const RenderArgs& r) {
  std::ostringstream s;
  s << r.env << "|" << joined(r.sets) << "|" << r.record.policy << "|" << r.record.steps << "|" << r.record.seed << "|"
    << r.fps << "|" << r.out;
  return s.str();
}

std::string describe(const SweepArgs& a) {
  std::ostringstream s;
  s << joined(a.positional) << "|" << joined(a.sets) << "|" << a.name << "|" << a.resume << "|" << a.status << "|"
    << a.trial << "|" << a.jobs << "|" << a.dry_run << a.slurm << a.submit;
  return s.str();
}

std::string describe(const PretrainArgs& a) {
  return a.config_path + "|" + a.corpus + "|" + joined(a.overrides) + "|" + a.resume_dir + "|" + a.run_dir;
}

std::string describe(const ExportArgs& a) { return a.source + "|" + a.out; }
std::string describe(const DatasetArgs& a) {
  std::string out = a.subcommand;
  for (const auto& p : a.paths) out += "|" + p;
  return out + "|" + a.format + "|" + a.out + "|" + a.to;
}

TEST(CliTest, EveryFlagAcceptsFlagEqualsValueAndFlagSpaceValueAlike) {
  const EvalOptions eval = parse(eval_command_line, {"run", "--episodes", "5", "--envs", "2", "--seed", "3", "--gif",
                                                     "x.gif", "--fps", "12", "--set", "a=1", "--set", "b=2", "--stochastic"});
  EXPECT_EQ(eval.episodes, 5);
  EXPECT_EQ(eval.envs, 2);
  EXPECT_EQ(eval.seed, 3u);
  EXPECT_TRUE(eval.stochastic);
  EXPECT_EQ(eval.overrides, (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(describe(parse(eval_command_line, {"run", "--episodes=5", "--envs=2", "--seed=3", "--gif=x.gif", "--fps=12",
                                               "--set=a=1", "--set=b=2", "--stochastic"})),
            describe(eval));

  const CollectOptions collect =
      parse(collect_command_line, {"c.yaml", "--policy", "random", "--episodes", "4", "--out", "o.h5", "--format",
                                   "minari", "--envs", "2", "--seed", "9", "--set", "env.max_steps=20"});
  EXPECT_EQ(collect.seed, std::optional<std::uint64_t>(9));
  EXPECT_EQ(describe(parse(collect_command_line, {"c.yaml", "--policy=random", "--episodes=4", "--out=o.h5",
                                                  "--format=minari", "--envs=2", "--seed=9", "--set=env.max_steps=20"})),
            describe(collect));

  const RenderArgs render = parse(render_command_line, {"tmaze", "--out", "x.gif", "--policy", "zero", "--steps", "8",
                                                        "--seed", "2", "--fps", "5", "--set", "corridor_length=5"});
  EXPECT_EQ(render.record.steps, 8);
  EXPECT_EQ(describe(parse(render_command_line, {"tmaze", "--out=x.gif", "--policy=zero", "--steps=8", "--seed=2",
                                                 "--fps=5", "--set=corridor_length=5"})),
            describe(render));

  const SweepArgs sweep =
      parse(sweep_command_line, {"spec.yaml", "--jobs", "2", "--name", "n", "--set", "a=1", "--slurm"});
  EXPECT_EQ(sweep.jobs, 2);
  EXPECT_EQ(describe(parse(sweep_command_line, {"spec.yaml", "--jobs=2", "--name=n", "--set=a=1", "--slurm"})),
            describe(sweep));
  EXPECT_EQ(describe(parse(sweep_command_line, {"spec.yaml", "-j", "2", "--name=n", "--set=a=1", "--slurm"})),
            describe(sweep));
  EXPECT_EQ(describe(parse(sweep_command_line, {"--trial=3", "dir"})),
            describe(parse(sweep_command_line, {"--trial", "3", "dir"})));
  EXPECT_EQ(describe(parse(sweep_command_line, {"--status=dir"})), describe(parse(sweep_command_line, {"--status", "dir"})));
  EXPECT_EQ(describe(parse(sweep_command_line, {"--resume=dir", "--jobs=3"})),
            describe(parse(sweep_command_line, {"--resume", "dir", "--jobs", "3"})));

  const PretrainArgs lm =
      parse(pretrain_lm_command_line, {"c.yaml", "--corpus", "t.txt", "--run-dir", "d", "--set", "lm.steps=3"});
  EXPECT_EQ(lm.corpus, "t.txt");
  EXPECT_EQ(describe(parse(pretrain_lm_command_line, {"c.yaml", "--corpus=t.txt", "--run-dir=d", "--set=lm.steps=3"})),
            describe(lm));
  EXPECT_EQ(describe(parse(pretrain_lm_command_line, {"--resume=d"})),
            describe(parse(pretrain_lm_command_line, {"--resume", "d"})));

  EXPECT_EQ(describe(parse(export_command_line, {"run", "--out=p.safetensors"})),
            describe(parse(export_command_line, {"run", "--out", "p.safetensors"})));
  EXPECT_EQ(describe(parse(dataset_command_line, {"info", "f.h5", "--format=d4rl"})),
            describe(parse(dataset_command_line, {"info", "f.h5", "--format", "d4rl"})));
  EXPECT_TRUE(parse(keygen_command_line, {"prefix", "--force"}).force);

  // The commands that live in cli.cc, through run_cli.
  const CliRun config = cli({"config", config_path(), "--set", "learner.ppo.lr=0.001"});
  EXPECT_EQ(config.code, 0);
  EXPECT_NE(config.out.find("lr: 0.001"), std::string::npos) << config.out;
  EXPECT_EQ(cli({"config", config_path(), "--set=learner.ppo.lr=0.001"}).out, config.out);
  const CliRun train = cli({"train", "--resume", "/nonexistent", config_path()});
  EXPECT_EQ(train.code, 2);
  EXPECT_NE(train.err.find("takes no CONFIG"), std::string::npos) << train.err;
  EXPECT_EQ(cli({"train", "--resume=/nonexistent", config_path()}).err, train.err);
  const CliRun replay = cli({"replay", config_path(), "--set", "learner.ppo.lrr=1"});
  EXPECT_EQ(replay.code, 2);
  EXPECT_EQ(cli({"replay", config_path(), "--set=learner.ppo.lrr=1"}).err, replay.err);
}

TEST(CliTest, HelpOfEveryCommandExitsZeroAndPrintsItsUsageAndFlags) {
  ASSERT_FALSE(command_table().empty());
  for (const Command& c : command_table()) {
    CommandArgs args;
    c.bind(args);
    for (const char* help : {"--help", "-h"}) {
      const CliRun r = cli({c.name, help});
      EXPECT_EQ(r.code, 0) << c.name << " " << help;
      EXPECT_EQ(r.out.rfind("usage: mnemo " + c.name, 0), 0u) << r.out;
      EXPECT_TRUE(r.err.empty()) << r.err;
      for (const auto& option : args.options().options())
        EXPECT_NE(r.out.find("--" + option->long_name()), std::string::npos) << c.name << " --" << option->long_name();
    }
    // Help wins over anything else on the line, even bad input.
    EXPECT_EQ(cli({c.name, "--bogus", "--help"}).code, 0) << c.name;
    EXPECT_EQ(cli({"help", c.name}).out, cli({c.name, "--help"}).out) << c.name;
  }
  for (const char* help : {"help", "--help", "-h"}) {
    const CliRun r = cli({help});
    EXPECT_EQ(r.code, 0);
    for (const Command& c : command_table()) EXPECT_NE(r.out.find("\n  " + c.name), std::string::npos) << c.name;
  }
}

TEST(CliTest, BadFlagsExitWithCode2AndAMessageNamingTheFlag) {
  auto expect_error = [](const std::vector<std::string>& args, const std::string& message) {
    const CliRun r = cli(args);
    EXPECT_EQ(r.code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << "expected '" << message << "' in: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  };
  for (const Command& c : command_table()) expect_error({c.name, "--bogus"}, "unknown option '--bogus'");
  expect_error({"eval", "run", "--episodez=3"}, "unknown option '--episodez' (did you mean '--episodes'?)");
  expect_error({"eval", "run", "--epi", "3"}, "unknown option '--epi'");  // no abbreviations
  expect_error({"eval", "run", "--episodes"}, "--episodes needs a value");
  expect_error({"eval", "run", "--episodes="}, "--episodes needs a value");
  expect_error({"eval", "run", "--episodes", "x"}, "--episodes expects an integer, got 'x'");
  expect_error({"eval", "run", "--episodes=5x"}, "--episodes expects an integer, got '5x'");
  expect_error({"eval", "run", "--seed", "-1"}, "--seed must be >= 0, got -1");
  expect_error({"eval", "run", "--stochastic=1"}, "--stochastic takes no value");
  expect_error({"eval", "run", "--episodes=5", "--episodes=6"}, "--episodes is given more than once");
  expect_error({"eval", "run", "--envs=0"}, "--envs must be at least 1, got 0");
  expect_error({"eval"}, "missing RUN_DIR|CHECKPOINT_DIR");
  expect_error({"eval", "a", "b"}, "expected one RUN_DIR|CHECKPOINT_DIR, got 'a' and 'b'");
  expect_error({"collect", "c.yaml", "--policy=random", "--episodes=two", "--out=o.h5"},
               "--episodes expects an integer, got 'two'");
  expect_error({"render", "tmaze", "--out=x.gif", "--steps", "many"}, "--steps expects an integer, got 'many'");
  expect_error({"render", "--out=x.gif"}, "missing ENV");
  expect_error({"plot", "r", "--metric=m", "--out=o.png", "--width=wide"}, "--width expects an integer, got 'wide'");
  expect_error({"sweep", "spec.yaml", "--jobs=x"}, "--jobs expects an integer, got 'x'");
  expect_error({"sweep", "--trial=-1", "dir"}, "--trial must be >= 0");
  expect_error({"export", "run"}, "missing --out");
  expect_error({"export", "--out=p.safetensors"}, "missing RUN_DIR|CHECKPOINT_DIR");
  expect_error({"keygen"}, "missing PREFIX");
  expect_error({"keygen", "p", "--force=yes"}, "--force takes no value");
  expect_error({"dataset", "info", "f.h5", "--format=csv"}, "--format must be auto, d4rl or minari, got 'csv'");
  EXPECT_EQ(describe(parse(dataset_command_line, {"merge", "a.h5", "b.h5", "--out", "m.h5", "--to=minari"})),
            "merge|a.h5|b.h5|auto|m.h5|minari");
  expect_error({"dataset", "info", "a.h5", "b.h5"}, "info: one FILE, got 2");
  expect_error({"dataset", "merge", "a.h5", "--out=m.h5"}, "merge: needs at least two input datasets, got 1");
  expect_error({"dataset", "merge", "a.h5", "b.h5"}, "merge: missing --out FILE");
  expect_error({"dataset", "merge", "a.h5", "b.h5", "--out=a.h5"}, "merge: --out a.h5 is also an input");
  expect_error({"dataset", "merge", "a.h5", "b.h5", "--out=m.h5", "--to=csv"}, "--to must be d4rl or minari");
  expect_error({"dataset", "merge", "a.h5", "b.h5", "--out=m.h5"}, "a.h5");  // a missing input is named
  expect_error({"pretrain-lm", "--corpus"}, "--corpus needs a value");
  expect_error({"config", config_path(), "--set"}, "--set needs a value");
  expect_error({"envs", "extra"}, "unexpected argument 'extra'");
  // The message is followed by the command's synopsis.
  EXPECT_NE(cli({"eval", "run", "--episodes=x"}).err.find("usage: mnemo eval RUN_DIR|CHECKPOINT_DIR"), std::string::npos);
}

TEST(CliTest, UnknownCommandSuggestsTheNearestOne) {
  const CliRun r = cli({"evl", "run"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'evl' (did you mean 'eval'?)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mnemo::launch
