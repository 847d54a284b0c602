#include "launch/cli.h"

#include <mpi.h>

#include <iostream>

#include "core/config.h"
#include "core/log.h"
#include "envs/registry.h"
#include "launch/collect.h"
#include "launch/command.h"
#include "launch/dataset_cmd.h"
#include "launch/eval.h"
#include "launch/export.h"
#include "launch/actor_cmd.h"
#include "launch/keygen.h"
#include "launch/replay_cmd.h"
#include "launch/plot_cmd.h"
#include "launch/pretrain_encoder.h"
#include "launch/pretrain_lm.h"
#include "launch/render.h"
#include "launch/sweep.h"
#include "launch/train.h"
#include "replay/server.h"

namespace mnemo::launch {
namespace {

// The commands that live here: train, config, envs, replay.

void train_command_line(CommandArgs& args, TrainArgs& t) {
  args.optional_positional("CONFIG", &t.config_path);
  args.flags()
      ("set", repeated(&t.overrides, "KEY=VALUE"), "override a config key (learner.ppo.lr=3e-4, ...); repeatable")
      ("run-dir", text(&t.run_dir, "DIR"), "exact run directory of a new run (default runs/<run.name>[-N])")
      ("resume", text(&t.resume_dir, "RUN_DIR"), "continue a run from its latest checkpoint (its config.yaml is used)");
  args.check([&t] {
    if (t.resume_dir.empty() && t.config_path.empty()) throw ConfigError("expected exactly one CONFIG file");
    if (!t.resume_dir.empty() && !t.config_path.empty())
      throw ConfigError("--resume RUN_DIR takes no CONFIG (the run's config.yaml is used)");
  });
}

int train_command(TrainArgs& t) {
  install_signal_handlers();
  TrainResult r = train(t);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    std::cout << "run " << r.run_dir.string() << ": " << r.counters.env_steps << " env steps, " << r.counters.updates
              << " updates, recent return " << r.recent_return;
    for (const auto& kv : r.recent_infos) std::cout << ", " << kv.first << " " << kv.second;
    std::cout << std::endl;
  }
  return 0;
}

// `mnemo config` and `mnemo replay`: a training config and its overrides.
struct ConfigArgs {
  std::string config;             // CONFIG
  std::vector<std::string> sets;  // --set KEY=VALUE
};

void config_command_line(CommandArgs& args, ConfigArgs& a) {
  args.positional("CONFIG", &a.config);
  args.flags()("set", repeated(&a.sets, "KEY=VALUE"), "override a config key; repeatable");
}

int config_command(ConfigArgs& a) {
  std::cout << resolved_yaml(load_train_config(a.config, a.sets));
  return 0;
}

int replay_command(ConfigArgs& a) {
  const TrainConfig c = load_train_config(a.config, a.sets);
  replay::Server server(c.replay.server);
  std::cout << "replay server on " << server.endpoint() << std::endl;
  server.run();
  return 0;
}

struct NoArgs {};

void no_command_line(CommandArgs&, NoArgs&) {}

int envs_command(NoArgs&) {
  for (const auto& e : envs::registered_envs()) {
    std::cout << e.name << ": " << e.description << "\n";
    auto env = envs::make_env(e.name);
    std::cout << "  observation: " << env->observation_spec().str() << "\n";
    std::cout << "  action: " << env->action_space().str() << "\n";
    for (const auto& o : e.options)
      std::cout << "  " << o.key << " (" << o.type << ", default " << o.default_value << "): " << o.help << "\n";
  }
  for (const auto& e : envs::bridge_envs()) {
    std::cout << e.name << ": " << e.description << "\n";
    std::cout << "  observation, action: from the served env's spaces (docs/envs.md, \"Bring your own environment\")\n";
    for (const auto& o : e.options)
      std::cout << "  " << o.key << " (" << o.type << ", default " << o.default_value << "): " << o.help << "\n";
  }
  return 0;
}

// Whether the arguments ask for help (-h or --help before any "--").
bool wants_help(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--") return false;
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

}  // namespace

const std::vector<Command>& command_table() {
  static const std::vector<Command> table = {
      {"train",
       {"CONFIG [--set KEY=VALUE]... [--run-dir DIR]", "--resume RUN_DIR [--set KEY=VALUE]..."},
       "train in one process (all roles as threads), or under `mpirun -np N` with one role\n"
       "per rank (see topology); --resume continues a run from its latest checkpoint",
       "",
       bind_command(train_command_line, train_command)},
      {"sweep",
       {"SPEC.yaml [--set KEY=VALUE]... [--name NAME] [--jobs N] [--dry-run] [--slurm | --submit]",
        "--resume DIR [--jobs N] [--slurm | --submit]", "--status DIR", "--trial I DIR"},
       "a grid of configs x seeds, run here N at a time or as a Slurm job array; resumable",
       "SPEC.yaml creates the sweep directory (every trial's config is checked first) and runs its trials;\n"
       "each trial runs as `mnemo sweep --trial I DIR`. See docs/sweeps.md.\n",
       bind_command(sweep_command_line, sweep_command)},
      {"config",
       {"CONFIG [--set KEY=VALUE]..."},
       "print the resolved configuration with comments",
       "",
       bind_command(config_command_line, config_command)},
      {"envs", {}, "list the environments and their options", "", bind_command(no_command_line, envs_command)},
      {"replay",
       {"CONFIG [--set KEY=VALUE]..."},
       "run a standalone replay server (the config's replay section)",
       "",
       bind_command(config_command_line, replay_command)},
      {"plot",
       {"RUN_DIR... --metric NAME --out FILE.png|FILE.svg [--x COLUMN] [--mean [--band minmax|std]]\n"
        "[--title TEXT] [--width PX] [--height PX]"},
       "draw learning curves (mean and spread over seeds with --mean)",
       "RUN_DIR is a run directory (its metrics.csv or metrics.jsonl) or such a file, a sweep directory\n"
       "(mnemo sweep): its trials' run directories, or TensorBoard event files (events.out.tfevents.*,\n"
       "or a directory of them; --x step|time).\n",
       bind_command(plot_command_line, plot_command)},
      {"render",
       {"ENV [--set KEY=VALUE]... [--policy random|zero] [--steps N] [--seed S] [--fps F] --out FILE.gif|DIR"},
       "record an episode of an environment as an animated GIF or PNG frames",
       "",
       bind_command(render_command_line, render_command)},
      {"eval",
       {"RUN_DIR|CHECKPOINT_DIR [--episodes N] [--envs M] [--seed S] [--stochastic]\n"
        "[--set KEY=VALUE]... [--gif FILE.gif] [--fps F]"},
       "run a trained policy (latest checkpoint) for N episodes and print return, length\n"
       "and the env's infos; --gif records an episode",
       "",
       bind_command(eval_command_line, eval_command)},
      {"export",
       {"RUN_DIR|CHECKPOINT_DIR --out FILE.safetensors"},
       "write the policy's weights and model description as safetensors",
       "",
       bind_command(export_command_line, export_command)},
      {"collect",
       {"[CONFIG] --policy random|scripted|RUN_DIR|CHECKPOINT_DIR --episodes N --out FILE\n"
        "[--format d4rl|minari] [--envs M] [--seed S] [--stochastic] [--set KEY=VALUE]..."},
       "record N complete episodes of the config's env as an offline dataset",
       "CONFIG is required with random and scripted policies; a trained policy brings its own config\n"
       "(a CONFIG given with one supplies the env, which must have the policy's spaces).\n",
       bind_command(collect_command_line, collect_command)},
      {"dataset",
       {"info FILE|MINARI_DIR [--format auto|d4rl|minari]", "merge IN... --out FILE [--to d4rl|minari]"},
       "summarise an offline dataset (D4RL or Minari HDF5): sizes, episode lengths and returns,\n"
       "infos, observation statistics and metadata; or merge datasets into one",
       "merge writes the inputs' episodes back to back (e.g. several checkpoints' episodes as one\n"
       "medium-replay style dataset); they must agree on observation, action and info shapes.\n",
       bind_command(dataset_command_line, dataset_command)},
      {"pretrain-lm",
       {"--corpus FILE [CONFIG] [--set KEY=VALUE]... [--run-dir DIR]",
        "--resume RUN_DIR [--corpus FILE] [--set KEY=VALUE]..."},
       "pretrain the GPT backbone as a byte-level language model and write\n"
       "RUN_DIR/lm.safetensors (GPT-2 names) for a DT's init_from",
       "See docs/pretraining.md.\n",
       bind_command(pretrain_lm_command_line, pretrain_lm_command)},
      {"pretrain-encoder",
       {"CONFIG --dataset PATH|--replay DIR [--set KEY=VALUE]... [--run-dir DIR]", "--resume RUN_DIR [--set KEY=VALUE]..."},
       "train an observation encoder with a contrastive loss (ATC or CURL) on a dataset of the\n"
       "env's observations and write RUN_DIR/encoder.safetensors for model.encoder_init",
       "See docs/representations.md.\n",
       bind_command(pretrain_encoder_command_line, pretrain_encoder_command)},
      {"actor",
       {"RUN_DIR [--set KEY=VALUE]..."},
       "join a running training job as one more actor: read RUN_DIR/endpoints, receive parameters\n"
       "and stream sequences into its replay until the learner stops",
       "The run must serve over tcp (distributed runs do; embedded ones with run.transport: tcp).\n"
       "In sync mode the learner's per-update share is split over the live actors, this one included.\n"
       "See docs/launching.md.\n",
       bind_command(actor_command_line, actor_command)},
      {"replay-shard",
       {"RUN_DIR --shard K --shards R [--bind EP] [--endpoint-file FILE] [--restore-step S]"},
       "serve replay shard K of a training job (what each replay rank runs under mpirun)",
       "Reads RUN_DIR/session.yaml; serves until the learner shuts it down. See docs/launching.md.\n",
       bind_command(replay_shard_command_line, replay_shard_command)},
      {"keygen",
       {"PREFIX [--force]"},
       "write a CURVE key pair PREFIX.key / PREFIX.pub for replay security",
       "PREFIX.key holds the public and secret key (mode 0600; keep it private), PREFIX.pub the public key\n"
       "(give it to peers).\n"
       "  replay server: curve_secret_key_file: PREFIX.key, curve_authorized_keys: [client.pub, ...]\n"
       "  replay client: client.curve_server_key_file: server.pub, client.curve_key_file: client.key\n",
       bind_command(keygen_command_line, keygen_command)},
  };
  return table;
}

int run_cli(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << cli_usage();
    return 2;
  }
  const std::string& name = args[0];
  if (name == "help" || name == "--help" || name == "-h") {
    if (args.size() < 2) {
      std::cout << cli_usage();
      return 0;
    }
    return run_cli({args[1], "--help"});
  }
  const Command* command = find_command(name);
  if (command == nullptr) {
    std::vector<std::string> names;
    for (const Command& c : command_table()) names.push_back(c.name);
    const std::string near = config::nearest(name, names);
    std::cerr << "mnemo: unknown command '" << name << "'" << (near.empty() ? "" : " (did you mean '" + near + "'?)")
              << "\n" << cli_usage();
    return 2;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    CommandArgs command_args;
    const CommandRun run = command->bind(command_args);
    if (wants_help(rest)) {
      std::cout << command_usage(*command, command_args);
      return 0;
    }
    command_args.parse(rest);
    return run();
  } catch (const ConfigError& e) {
    std::cerr << "mnemo " << name << ": " << e.what() << "\n" << command_synopsis(*command);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mnemo " << name << ": error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace mnemo::launch
