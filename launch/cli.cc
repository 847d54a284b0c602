#include "launch/cli.h"

#include <mpi.h>

#include <iostream>

#include "core/log.h"
#include "envs/registry.h"
#include "launch/eval.h"
#include "launch/export.h"
#include "launch/args.h"
#include "launch/collect.h"
#include "launch/dataset_cmd.h"
#include "launch/keygen.h"
#include "launch/plot_cmd.h"
#include "launch/pretrain_lm.h"
#include "launch/render.h"
#include "launch/sweep.h"
#include "launch/train.h"
#include "replay/server.h"

namespace mnemo::launch {
namespace {

constexpr const char* kUsage = R"(usage: mnemo <command> [options]

commands:
  train CONFIG [--set KEY=VALUE]... [--run-dir DIR]
                       train in one process (all roles as threads), or under
                       `mpirun -np N` with one role per rank (see topology)
  train --resume RUN_DIR [--set KEY=VALUE]...
                       continue a run from its latest checkpoint
  sweep SPEC.yaml [--set KEY=VALUE]... [--jobs N] [--dry-run] [--slurm | --submit]
  sweep --resume DIR [--jobs N] [--slurm | --submit] | --status DIR | --trial I DIR
                       a grid of configs x seeds, run here N at a time or as a Slurm
                       job array; resumable (mnemo sweep --help)
  config CONFIG [--set KEY=VALUE]...
                       print the resolved configuration with comments
  envs                 list the environments and their options
  replay CONFIG [--set KEY=VALUE]...
                       run a standalone replay server (the config's replay section)
  plot RUN_DIR... --metric NAME --out FILE.png|FILE.svg [--x COLUMN] [--mean]
                       draw learning curves (mean and spread over seeds with --mean)
  render ENV [--set KEY=VALUE]... [--policy random|zero] [--steps N] [--seed S] --out FILE.gif|DIR
                       record an episode of an environment as an animated GIF or PNG frames
  eval RUN_DIR|CHECKPOINT_DIR [--episodes N] [--envs M] [--seed S] [--stochastic]
       [--set KEY=VALUE]... [--gif FILE.gif] [--fps F]
                       run a trained policy (latest checkpoint) for N episodes and print
                       return, length and the env's infos; --gif records an episode
  export RUN_DIR|CHECKPOINT_DIR --out FILE.safetensors
                       write the policy's weights and model description as safetensors
  collect [CONFIG] --policy random|scripted|RUN_DIR|CHECKPOINT_DIR --episodes N --out FILE
          [--format d4rl|minari] [--envs M] [--seed S] [--stochastic] [--set KEY=VALUE]...
                       record N complete episodes of the config's env as an offline dataset
  dataset info FILE|MINARI_DIR
                       summarise an offline dataset (D4RL or Minari HDF5)
  pretrain-lm --corpus FILE [CONFIG] [--set KEY=VALUE]... [--resume RUN_DIR]
                       pretrain the GPT backbone as a byte-level language model and
                       write RUN_DIR/lm.safetensors (GPT-2 names) for a DT's init_from
  keygen PREFIX [--force]
                       write a CURVE key pair PREFIX.key / PREFIX.pub for replay security
  help                 this text
)";

class UsageError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

struct Parsed {
  std::vector<std::string> positional;
  std::vector<std::string> sets;
  std::string resume, run_dir;
};

Parsed parse(const std::vector<std::string>& args, std::size_t from, bool allow_train_flags) {
  Parsed p;
  const std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(from), args.end());
  ArgReader in(rest);
  while (in.next()) {
    const std::string a = in.arg();
    if (in.take_set(p.sets)) {
    } else if (allow_train_flags && a == "--resume") {
      p.resume = in.value();
    } else if (allow_train_flags && a == "--run-dir") {
      p.run_dir = in.value();
    } else if (in.is_flag()) {
      in.unknown();
    } else {
      p.positional.push_back(a);
    }
  }
  return p;
}

std::string one_config(const Parsed& p, const std::string& command) {
  if (p.positional.size() != 1) throw UsageError(command + ": expected exactly one CONFIG file");
  return p.positional[0];
}

int cmd_train(const std::vector<std::string>& args) {
  Parsed p = parse(args, 1, true);
  TrainArgs t;
  t.overrides = p.sets;
  t.resume_dir = p.resume;
  t.run_dir = p.run_dir;
  if (p.resume.empty()) {
    t.config_path = one_config(p, "train");
  } else if (!p.positional.empty()) {
    throw UsageError("train --resume RUN_DIR takes no CONFIG (the run's config.yaml is used)");
  }
  install_signal_handlers();
  TrainResult r = train(t);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0)
    std::cout << "run " << r.run_dir.string() << ": " << r.counters.env_steps << " env steps, " << r.counters.updates
              << " updates, recent return " << r.recent_return;
  if (rank == 0)
    for (const auto& kv : r.recent_infos) std::cout << ", " << kv.first << " " << kv.second;
  if (rank == 0) std::cout << std::endl;
  return 0;
}

int cmd_config(const std::vector<std::string>& args) {
  Parsed p = parse(args, 1, false);
  TrainConfig c = load_train_config(one_config(p, "config"), p.sets);
  std::cout << resolved_yaml(c);
  return 0;
}

int cmd_envs() {
  for (const auto& e : envs::registered_envs()) {
    std::cout << e.name << ": " << e.description << "\n";
    auto env = envs::make_env(e.name);
    std::cout << "  observation: " << env->observation_spec().str() << "\n";
    std::cout << "  action: " << env->action_space().str() << "\n";
    for (const auto& o : e.options)
      std::cout << "  " << o.key << " (" << o.type << ", default " << o.default_value << "): " << o.help << "\n";
  }
  return 0;
}

int cmd_replay(const std::vector<std::string>& args) {
  Parsed p = parse(args, 1, false);
  TrainConfig c = load_train_config(one_config(p, "replay"), p.sets);
  replay::Server server(c.replay.server);
  std::cout << "replay server on " << server.endpoint() << std::endl;
  server.run();
  return 0;
}

}  // namespace

int run_cli(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& cmd = args[0];
  try {
    if (cmd == "train") return cmd_train(args);
    if (cmd == "config") return cmd_config(args);
    if (cmd == "sweep") return sweep_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "envs") return cmd_envs();
    if (cmd == "replay") return cmd_replay(args);
    if (cmd == "plot") return plot_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "render") return render_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "eval") return eval_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "export") return export_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "collect") return collect_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "dataset") return dataset_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "pretrain-lm") return pretrain_lm_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "keygen") return keygen_main(std::vector<std::string>(args.begin() + 1, args.end()));
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "mnemo: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  } catch (const ConfigError& e) {
    std::cerr << "mnemo: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mnemo " << cmd << ": error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace mnemo::launch
