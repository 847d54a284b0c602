// `mnemo sweep`: a grid of training configs times seeds, run on this machine (N trials at a time)
// or as a Slurm job array, resumable after preemption.
//
// A sweep spec (YAML) names a base training config, a grid of `--set` values and seeds. Creating
// the sweep validates every trial's config first (nothing is written when one is wrong), then
// makes the sweep directory:
//
//   <dir>/<name>/sweep.yaml   the spec, with `config: base.yaml` and the working directory
//                base.yaml    the base training config, resolved (later edits of the original
//                             do not change a running sweep)
//                trials.tsv   index, trial name, seed and overrides, one line per trial
//                <trial>/     each trial's run directory (metrics, checkpoints, logs)
//                done/<trial>.json   written when a trial finishes: its final return and infos
//                logs/<trial>.out    a local trial's console output
//                attempts/    run directories of attempts that died before any checkpoint
//                sweep.sbatch the Slurm array script (--slurm)
//
// Every trial runs through `mnemo sweep --trial I DIR`, locally as a child process or as a Slurm
// array task (under srun, one trial may span many MPI ranks): it skips a finished trial, resumes
// one with a checkpoint, and starts the others. Trials are independent processes because
// MPI_Init can run only once per process and one crashing trial must not end the sweep.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"

namespace mnemo::launch {

// The `slurm:` section of a sweep spec: the #SBATCH lines of the job array.
struct SlurmOptions {
  std::string partition;
  std::string account;
  std::string time = "01:00:00";
  std::int64_t nodes = 1;
  std::int64_t ntasks_per_node = 1;
  std::int64_t cpus_per_task = 2;
  std::int64_t gpus_per_node = 0;
  std::string mem;
  std::int64_t max_parallel = 0;
  std::int64_t signal_seconds = 120;
  std::string launcher = "srun";
  std::string mpi = "pmix";
  std::int64_t max_array_size = 0;
  std::vector<std::string> setup;
  std::vector<std::string> extra;

  template <class V>
  void visit(V& v) {
    v("partition", partition, "--partition (empty: the cluster's default)");
    v("account", account, "--account (empty: none)");
    v("time", time, "--time limit per trial, e.g. 04:00:00 (a trial past it resumes when resubmitted)");
    v("nodes", nodes, "--nodes per trial");
    v("ntasks_per_node", ntasks_per_node, "--ntasks-per-node: MPI ranks per node of one trial (see the config's topology)");
    v("cpus_per_task", cpus_per_task, "--cpus-per-task");
    v("gpus_per_node", gpus_per_node, "--gpus-per-node (0: none)");
    v("mem", mem, "--mem per node, e.g. 16G (empty: the cluster's default)");
    v("max_parallel", max_parallel, "array tasks running at once (the %N of --array; 0: no limit)");
    v("signal_seconds", signal_seconds, "SIGTERM this many seconds before the time limit, so the trial checkpoints");
    v("launcher", launcher, "how a trial starts: srun or mpirun (OpenMPI inside the allocation)");
    v("mpi", mpi,
      "srun's MPI plugin (srun --mpi=...): pmix for Debian's and most OpenMPI builds, pmi2, ... (empty: the "
      "cluster's MpiDefault)");
    v("max_array_size", max_array_size,
      "split into arrays of task ids below this (0: the cluster's MaxArraySize from scontrol show config, else 1001)");
    v("setup", setup, "shell lines run before the trial (module load ..., source venv ...)");
    v("extra", extra, "further #SBATCH options, each as written after #SBATCH (e.g. --qos=long)");
  }
  void validate() const;
};

// A sweep spec, as read from YAML.
struct SweepSpec {
  std::string name = "sweep";
  std::string config;
  std::string dir = "runs";
  std::vector<std::uint64_t> seeds = {1};
  config::Node variants;
  config::Node grid;
  config::Node search;
  config::Node set;
  std::string workdir;
  SlurmOptions slurm;

  template <class V>
  void visit(V& v) {
    v("name", name, "sweep name: the sweep directory is <dir>/<name>");
    v("config", config, "base training config (a path relative to this file)");
    v("dir", dir, "parent directory of the sweep directory");
    v("seeds", seeds, "run.seed of each trial: every grid point runs once per seed");
    v("variants", variants,
      "NAME: {KEY: VALUE, ...} per named variant (conditions that are not a grid, e.g. an ablation); every "
      "variant runs the whole grid");
    v("grid", grid, "KEY: [VALUE, ...] per swept config key; trials are every combination");
    v("search", search,
      "random search: {samples: N, seed: S, space: {KEY: {uniform|log_uniform|int: [LOW, HIGH]} or {choice: [V, ...]}}}; "
      "N points per grid point");
    v("set", set, "KEY: VALUE overrides applied to every trial");
    v("workdir", workdir, "directory trials run in, for relative paths in the config (empty: where the sweep was created)");
    v("slurm", slurm, "Slurm job array options (mnemo sweep --slurm)");
  }
  // Throws ConfigError naming the field.
  void validate() const;
};

// One run of the sweep: a grid point and a seed.
struct Trial {
  std::size_t index = 0;
  std::string name;                     // its directory inside the sweep dir, e.g. "lr=0.001-seed2"
  std::string group;                    // the grid point: the name without "-seed<S>"
  std::uint64_t seed = 0;
  std::vector<std::string> overrides;   // "key=value": grid values, then run.name and run.seed
};

// Reads a sweep spec; a relative `config` resolves against the spec's directory. Unknown keys
// and wrong types are ConfigErrors naming the key, as in training configs.
SweepSpec load_sweep_spec(const std::string& path);

// The trials of a spec: for each variant in the spec's order (outermost; its name leads the trial
// name and its values come first in the overrides), the cartesian product of the grid in the spec's
// key order (the last key varying fastest), times the random search's samples when there is one
// (named s<k>), each point once per seed (seeds innermost). The search draws from its own seed in the space's key order, so
// the same spec gives the same trials on any machine. Names are "key=value" parts
// joined by "-" (the key's last component when that is unambiguous, values reduced to filename
// characters) and "-seed<S>". Throws ConfigError for grid values that are not lists of scalars or
// flow lists, empty lists, repeated values or seeds.
std::vector<Trial> expand_trials(const SweepSpec& spec);

// "key=value" of a YAML value as `--set` accepts it (scalars as written, lists in flow style).
std::string override_text(const std::string& key, const config::Node& value);

// Slurm's --array syntax for sorted indices: {0,1,2,5,7,8} -> "0-2,5,7-8".
std::string array_ranges(const std::vector<std::size_t>& indices);

// The sbatch script running `indices` of the sweep in `sweep_dir` (absolute) with the `mnemo`
// executable at `exe`. Array task ids are the indices minus `offset` (Slurm refuses ids of
// MaxArraySize and above), and each task runs trial id + offset.
std::string slurm_script(const SweepSpec& spec, const std::filesystem::path& sweep_dir,
                         const std::vector<std::size_t>& indices, const std::string& exe, std::size_t offset = 0);
// Sorted trial indices in arrays whose task ids (index - offset) stay below `max_array_size`:
// {offset, indices} per array, in order.
std::vector<std::pair<std::size_t, std::vector<std::size_t>>> split_arrays(const std::vector<std::size_t>& indices,
                                                                           std::size_t max_array_size);

// Where a trial stands.
enum class TrialState {
  kPending,       // never started (no run directory)
  kStarted,       // a run directory without a complete checkpoint
  kCheckpointed,  // resumable from a checkpoint
  kDone,          // finished: done/<name>.json exists
};
const char* trial_state_name(TrialState s);
TrialState trial_state(const std::filesystem::path& sweep_dir, const Trial& trial);

// A finished trial's numbers (done/<name>.json).
struct TrialResult {
  double recent_return = 0;
  std::map<std::string, double> infos;  // success, eval_success, ...
  std::int64_t updates = 0, env_steps = 0;
};
TrialResult read_trial_result(const std::filesystem::path& sweep_dir, const Trial& trial);

// The sweep in a directory made by create_sweep: its spec and trials.
struct Sweep {
  std::filesystem::path dir;  // absolute
  SweepSpec spec;
  std::vector<Trial> trials;
};
Sweep open_sweep(const std::filesystem::path& dir);

// Validates every trial's config (base config + `set` + `cli_sets` + the trial's values) and
// creates the sweep directory atomically. Throws ConfigError, creating nothing, for a bad trial
// or when the directory exists (continue an existing sweep with --resume).
Sweep create_sweep(const SweepSpec& spec, const std::vector<std::string>& cli_sets);

// A table of every trial (state, return, infos) and, per grid point, the mean and standard
// deviation over its finished seeds, best grid point first.
std::string sweep_status(const Sweep& sweep);

// Exit code of `mnemo sweep --trial` when the trial was interrupted (SIGTERM/SIGINT) after
// writing a checkpoint: it resumes when run again.
constexpr int kTrialInterrupted = 75;

// Runs trial `index` in this process (under mpirun/srun on every rank): skips it when done,
// resumes it from its checkpoint, or starts it; writes done/<name>.json when it finishes.
// Returns 0, or kTrialInterrupted.
int run_trial(const std::filesystem::path& sweep_dir, std::size_t index);

// Runs the sweep's unfinished trials as child processes, `jobs` at a time, with a progress line.
// Returns 0 when all are done, 1 when some failed or the sweep was interrupted.
int run_sweep_local(const Sweep& sweep, std::int64_t jobs);

// The command line of `mnemo sweep`: one of SPEC.yaml (create and run), --resume DIR,
// --status DIR and --trial I DIR.
struct SweepArgs {
  std::vector<std::string> positional;  // SPEC.yaml, or the sweep DIR of --trial
  std::vector<std::string> sets;        // --set KEY=VALUE on every trial of a new sweep
  std::string name;                     // --name NAME: the sweep's name instead of the spec's
  std::string resume;                   // --resume DIR
  std::string status;                   // --status DIR
  std::int64_t trial = -1;              // --trial I (-1: not given)
  std::int64_t jobs = 1;                // --jobs N: local trials at a time
  bool dry_run = false;                 // --dry-run: check every trial's config, write nothing
  bool slurm = false;                   // --slurm: write DIR/sweep.sbatch instead of running here
  bool submit = false;                  // --submit: --slurm, then sbatch it
};

class CommandArgs;  // launch/command.h

// `mnemo sweep ...` (a row of command_table()): binds the arguments and flags to `a` and checks
// the combination once parsed.
void sweep_command_line(CommandArgs& args, SweepArgs& a);
// Creates, runs, resumes, submits or reports on a sweep. Returns 0, 1 when trials failed, or
// kTrialInterrupted (--trial); throws ConfigError for bad input.
int sweep_command(SweepArgs& a);

}  // namespace mnemo::launch
