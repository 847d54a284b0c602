#include "launch/sweep.h"

#include <mpi.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/json.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"
#include "launch/command.h"
#include "core/process.h"
#include "launch/train.h"

namespace mnemo::launch {

namespace fs = std::filesystem;

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' || c == '-' || c == '=';
}

// "[64, 64]" -> "64x64", "{name: tmaze}" -> "name_tmaze", "1e-3" -> "1e-3".
std::string name_part(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '[' || c == ']' || c == '{' || c == '}' || c == ' ' || c == '"' || c == '\'') continue;
    if (c == ',') c = 'x';
    out += is_name_char(c) ? c : '_';
  }
  return out.empty() ? "_" : out;
}

std::string last_component(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

fs::path done_file(const fs::path& sweep_dir, const Trial& t) { return sweep_dir / "done" / (t.name + ".json"); }

std::string format_duration(double s) {
  const auto t = static_cast<long long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Spec

void SlurmOptions::validate() const {
  auto positive = [](const char* key, std::int64_t v) {
    if (v < 1) throw ConfigError(std::string("sweep: slurm.") + key + " must be >= 1, got " + std::to_string(v));
  };
  positive("nodes", nodes);
  positive("ntasks_per_node", ntasks_per_node);
  positive("cpus_per_task", cpus_per_task);
  if (gpus_per_node < 0) throw ConfigError("sweep: slurm.gpus_per_node must be >= 0");
  if (max_parallel < 0) throw ConfigError("sweep: slurm.max_parallel must be >= 0");
  if (max_array_size < 0) throw ConfigError("sweep: slurm.max_array_size must be >= 0 (0: ask the cluster)");
  if (signal_seconds < 0) throw ConfigError("sweep: slurm.signal_seconds must be >= 0");
  if (time.empty()) throw ConfigError("sweep: slurm.time must not be empty (e.g. 04:00:00)");
  if (launcher != "srun" && launcher != "mpirun")
    throw ConfigError("sweep: slurm.launcher must be srun or mpirun, got '" + launcher + "'");
  for (char ch : mpi)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.'))
      throw ConfigError("sweep: slurm.mpi must be the name of an srun MPI plugin (pmix, pmi2, pmix_v4, none, ...), got '" +
                        mpi + "'");
  for (const auto& line : setup)
    if (line.find('\n') != std::string::npos) throw ConfigError("sweep: slurm.setup lines must be single lines");
  for (const auto& e : extra)
    if (e.empty() || e[0] != '-' || e.find('\n') != std::string::npos)
      throw ConfigError("sweep: slurm.extra entries are #SBATCH options such as --qos=long, got '" + e + "'");
}

void SweepSpec::validate() const {
  if (name.empty() || name == "." || name == ".." ||
      !std::all_of(name.begin(), name.end(), [](char c) { return is_name_char(c) && c != '='; }))
    throw ConfigError("sweep: name '" + name + "' must be a plain file name (letters, digits, . _ + -)");
  if (config.empty()) throw ConfigError("sweep: config (the base training config) is required");
  if (seeds.empty()) throw ConfigError("sweep: seeds must list at least one seed");
  if (grid.kind != config::Node::Kind::kNull && !grid.is_map())
    throw ConfigError("sweep: grid must be a mapping KEY: [VALUE, ...] (" + grid.origin + ")");
  if (set.kind != config::Node::Kind::kNull && !set.is_map())
    throw ConfigError("sweep: set must be a mapping KEY: VALUE (" + set.origin + ")");
  if (variants.kind != config::Node::Kind::kNull) {
    if (!variants.is_map() || variants.map.empty())
      throw ConfigError("sweep: variants must be a mapping NAME: {KEY: VALUE, ...} (" + variants.origin + ")");
    for (const auto& [vname, values] : variants.map) {
      if (vname.empty() || vname == "." || vname == ".." ||
          !std::all_of(vname.begin(), vname.end(), [](char c) { return is_name_char(c) && c != '='; }))
        throw ConfigError("sweep: variant name '" + vname + "' must be a plain file name (letters, digits, . _ + -)");
      if (values.kind == config::Node::Kind::kNull) continue;  // `scratch: {}` or `scratch:`: the base config
      if (!values.is_map())
        throw ConfigError("sweep: variants." + vname + " must be a mapping KEY: VALUE (" + values.origin + ")");
      for (const auto& kv : values.map)
        if (grid.is_map() && grid.find(kv.first) != nullptr)
          throw ConfigError("sweep: variants." + vname + "." + kv.first + " is also in the grid (" + values.origin + ")");
    }
  }
  slurm.validate();
}

SweepSpec load_sweep_spec(const std::string& path) {
  config::Node root = config::load_file(path);
  SweepSpec spec;
  config::bind(root, "sweep", spec);
  if (!spec.config.empty() && fs::path(spec.config).is_relative())
    spec.config = (fs::path(path).parent_path() / spec.config).lexically_normal().string();
  spec.validate();
  return spec;
}

std::string override_text(const std::string& key, const config::Node& value) { return key + "=" + config::flow_text(value); }

namespace {

// The random search's points: for each of search.samples, "key=value" per key of search.space.
std::vector<std::vector<std::string>> search_points(const SweepSpec& spec) {
  const config::Node& s = spec.search;
  if (s.kind == config::Node::Kind::kNull) return {};
  auto bad = [&](const std::string& what, const config::Node& at) {
    throw ConfigError("sweep: search." + what + " (" + at.origin + ")");
  };
  if (!s.is_map()) bad("must be a mapping {samples: N, seed: S, space: {...}}", s);
  std::int64_t samples = 0;
  std::uint64_t seed = 0;
  const config::Node* space = nullptr;
  for (const auto& [key, value] : s.map) {
    if (key == "samples" || key == "seed") {
      std::int64_t v = 0;
      try {
        std::size_t used = 0;
        v = std::stoll(value.scalar, &used);
        if (used != value.scalar.size() || v < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        bad(key + " must be a non-negative integer, got '" + config::flow_text(value) + "'", value);
      }
      if (key == "samples") samples = v;
      else seed = static_cast<std::uint64_t>(v);
    } else if (key == "space") {
      space = &value;
    } else {
      bad("has no key '" + key + "' (samples, seed, space)", value);
    }
  }
  if (samples < 1) bad("samples must be at least 1", s);
  if (space == nullptr || !space->is_map() || space->map.empty()) bad("space must map config keys to distributions", s);
  // Draws from a 64-bit Mersenne twister with our own mappings to [0, 1) and to integers, which,
  // unlike <random>'s distributions, are the same with every standard library.
  std::mt19937_64 gen(seed);
  auto unit = [&] { return static_cast<double>(gen() >> 11) * 0x1.0p-53; };
  auto number = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  struct Dist {
    std::string key, kind;
    double low = 0, high = 0;
    std::vector<std::string> choices;
  };
  std::vector<Dist> dists;
  for (const auto& [key, value] : space->map) {
    if (spec.grid.is_map() && spec.grid.find(key) != nullptr) bad("space." + key + " is also in the grid", value);
    if (!value.is_map() || value.map.size() != 1)
      bad("space." + key + " must be one of {uniform: [LOW, HIGH]}, {log_uniform: [LOW, HIGH]}, {int: [LOW, HIGH]}, "
          "{choice: [V, ...]}", value);
    const auto& [kind, args] = *value.map.begin();
    Dist d{key, kind, 0, 0, {}};
    if (args.kind != config::Node::Kind::kSequence) bad("space." + key + "." + kind + " must be a list", args);
    if (kind == "choice") {
      if (args.items.empty()) bad("space." + key + ".choice is empty", args);
      for (const auto& item : args.items) d.choices.push_back(config::flow_text(item));
    } else if (kind == "uniform" || kind == "log_uniform" || kind == "int") {
      if (args.items.size() != 2) bad("space." + key + "." + kind + " must be [LOW, HIGH]", args);
      try {
        d.low = std::stod(args.items[0].scalar);
        d.high = std::stod(args.items[1].scalar);
      } catch (const std::exception&) {
        bad("space." + key + "." + kind + " bounds must be numbers, got " + config::flow_text(args), args);
      }
      if (!(d.low <= d.high)) bad("space." + key + "." + kind + " needs LOW <= HIGH", args);
      if (kind == "log_uniform" && !(d.low > 0)) bad("space." + key + ".log_uniform needs LOW > 0", args);
      if (kind == "int" && (d.low != std::floor(d.low) || d.high != std::floor(d.high)))
        bad("space." + key + ".int bounds must be integers", args);
    } else {
      bad("space." + key + ": unknown distribution '" + kind + "' (uniform, log_uniform, int, choice)", value);
    }
    dists.push_back(std::move(d));
  }
  std::vector<std::vector<std::string>> points;
  for (std::int64_t k = 0; k < samples; ++k) {
    std::vector<std::string> p;
    for (const auto& d : dists) {
      std::string text;
      if (d.kind == "choice") {
        text = d.choices[gen() % d.choices.size()];
      } else if (d.kind == "int") {
        const auto span = static_cast<std::uint64_t>(d.high - d.low) + 1;
        text = std::to_string(static_cast<std::int64_t>(d.low) + static_cast<std::int64_t>(gen() % span));
      } else if (d.kind == "uniform") {
        text = number(d.low + (d.high - d.low) * unit());
      } else {
        text = number(std::exp(std::log(d.low) + (std::log(d.high) - std::log(d.low)) * unit()));
      }
      p.push_back(d.key + "=" + text);
    }
    points.push_back(std::move(p));
  }
  return points;
}

}  // namespace

std::vector<Trial> expand_trials(const SweepSpec& spec) {
  struct Axis {
    std::string key, label;
    std::vector<std::string> texts;  // flow text per value
  };
  std::vector<Axis> axes;
  if (spec.grid.is_map()) {
    for (const auto& kv : spec.grid.map) {
      const config::Node& values = kv.second;
      if (values.kind != config::Node::Kind::kSequence)
        throw ConfigError("sweep: grid." + kv.first + " must be a list of values (" + values.origin + ")");
      if (values.items.empty()) throw ConfigError("sweep: grid." + kv.first + " is an empty list (" + values.origin + ")");
      Axis a;
      a.key = kv.first;
      std::set<std::string> seen;
      for (const auto& v : values.items) {
        std::string text = config::flow_text(v);
        if (!seen.insert(text).second)
          throw ConfigError("sweep: grid." + kv.first + " lists " + text + " twice (" + values.origin + ")");
        a.texts.push_back(text);
      }
      axes.push_back(std::move(a));
    }
  }
  // Short labels where the last key component is unique among the grid's keys.
  for (auto& a : axes) {
    const std::string last = last_component(a.key);
    const auto same = std::count_if(axes.begin(), axes.end(), [&](const Axis& b) { return last_component(b.key) == last; });
    a.label = same == 1 ? last : a.key;
  }
  std::set<std::uint64_t> seeds(spec.seeds.begin(), spec.seeds.end());
  if (seeds.size() != spec.seeds.size()) throw ConfigError("sweep: seeds lists a seed twice");

  const auto points = search_points(spec);
  const std::size_t width = std::to_string(points.size()).size();

  // The variants: a name and its overrides each, or one unnamed variant without any.
  std::vector<std::pair<std::string, std::vector<std::string>>> variants;
  if (spec.variants.is_map())
    for (const auto& [vname, values] : spec.variants.map) {
      std::vector<std::string> o;
      if (values.is_map())
        for (const auto& kv : values.map) o.push_back(override_text(kv.first, kv.second));
      variants.emplace_back(vname, std::move(o));
    }
  if (variants.empty()) variants.emplace_back("", std::vector<std::string>{});

  std::vector<Trial> trials;
  std::set<std::string> groups;
  for (const auto& [variant, variant_overrides] : variants) {
    std::vector<std::size_t> pick(axes.size(), 0);
    while (true) {
      std::string grid_group = variant;
      std::vector<std::string> grid_overrides = variant_overrides;
      for (std::size_t i = 0; i < axes.size(); ++i) {
        const std::string& text = axes[i].texts[pick[i]];
        if (!grid_group.empty()) grid_group += "-";
        grid_group += axes[i].label + "=" + name_part(text);
        grid_overrides.push_back(axes[i].key + "=" + text);
      }
      for (std::size_t k = 0; k < std::max<std::size_t>(points.size(), 1); ++k) {
        std::string group = grid_group;
        std::vector<std::string> overrides = grid_overrides;
        if (!points.empty()) {
          std::string n = std::to_string(k);
          group += (group.empty() ? "s" : "-s") + std::string(width - n.size(), '0') + n;
          overrides.insert(overrides.end(), points[k].begin(), points[k].end());
        }
        if (group.empty()) group = spec.name;
        // Values that differ only in characters a file name cannot hold get the point's number.
        if (!groups.insert(group).second) {
          group += "-p" + std::to_string(trials.size() / spec.seeds.size());
          groups.insert(group);
        }
        for (std::uint64_t seed : spec.seeds) {
          Trial t;
          t.index = trials.size();
          t.group = group;
          t.seed = seed;
          t.name = group + "-seed" + std::to_string(seed);
          t.overrides = overrides;
          t.overrides.push_back("run.name=" + t.name);
          t.overrides.push_back("run.seed=" + std::to_string(seed));
          trials.push_back(std::move(t));
        }
      }
      // Next grid point: the last axis varies fastest.
      std::size_t i = axes.size();
      bool wrapped = axes.empty();
      while (i > 0) {
        --i;
        if (++pick[i] < axes[i].texts.size()) break;
        pick[i] = 0;
        if (i == 0) wrapped = true;
      }
      if (wrapped) break;
    }
  }
  return trials;
}

// ---------------------------------------------------------------------------------------------
// Slurm

std::string array_ranges(const std::vector<std::size_t>& indices) {
  std::string out;
  for (std::size_t i = 0; i < indices.size();) {
    std::size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(indices[i]);
    if (j > i) out += "-" + std::to_string(indices[j]);
    i = j + 1;
  }
  return out;
}

namespace {
// Single quotes for the shell.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

std::vector<std::pair<std::size_t, std::vector<std::size_t>>> split_arrays(const std::vector<std::size_t>& indices,
                                                                           std::size_t max_array_size) {
  MNEMO_CHECK(max_array_size >= 1, "split_arrays: max_array_size must be positive");
  std::vector<std::pair<std::size_t, std::vector<std::size_t>>> out;
  for (std::size_t i : indices) {
    const std::size_t offset = i / max_array_size * max_array_size;
    if (out.empty() || out.back().first != offset) out.push_back({offset, {}});
    out.back().second.push_back(i);
  }
  return out;
}

std::string slurm_script(const SweepSpec& spec, const fs::path& sweep_dir, const std::vector<std::size_t>& indices,
                         const std::string& exe, std::size_t offset) {
  MNEMO_CHECK(!indices.empty(), "slurm_script: no trials");
  std::vector<std::size_t> ids;
  for (std::size_t i : indices) {
    MNEMO_CHECK(i >= offset, "slurm_script: trial ", i, " below the array's offset ", offset);
    ids.push_back(i - offset);
  }
  const SlurmOptions& s = spec.slurm;
  std::ostringstream os;
  os << "#!/bin/bash\n"
     << "# Written by `mnemo sweep --slurm`: one array task per unfinished trial of this sweep.\n"
     << "# A trial that is preempted or reaches its time limit checkpoints on SIGTERM; submitting\n"
     << "# again (mnemo sweep --resume " << sweep_dir.string() << " --submit) resumes it.\n";
  os << "#SBATCH --job-name=" << spec.name << "\n";
  os << "#SBATCH --array=" << array_ranges(ids);
  if (s.max_parallel > 0) os << "%" << s.max_parallel;
  os << "\n";
  os << "#SBATCH --output=" << (sweep_dir / "slurm" / "%A_%a.out").string() << "\n";
  os << "#SBATCH --open-mode=append\n";
  os << "#SBATCH --chdir=" << spec.workdir << "\n";
  os << "#SBATCH --time=" << s.time << "\n";
  os << "#SBATCH --nodes=" << s.nodes << "\n";
  os << "#SBATCH --ntasks-per-node=" << s.ntasks_per_node << "\n";
  os << "#SBATCH --cpus-per-task=" << s.cpus_per_task << "\n";
  if (s.gpus_per_node > 0) os << "#SBATCH --gpus-per-node=" << s.gpus_per_node << "\n";
  if (!s.partition.empty()) os << "#SBATCH --partition=" << s.partition << "\n";
  if (!s.account.empty()) os << "#SBATCH --account=" << s.account << "\n";
  if (!s.mem.empty()) os << "#SBATCH --mem=" << s.mem << "\n";
  if (s.signal_seconds > 0) os << "#SBATCH --signal=TERM@" << s.signal_seconds << "\n";
  os << "#SBATCH --requeue\n";
  for (const auto& e : s.extra) os << "#SBATCH " << e << "\n";
  os << "\nset -euo pipefail\n";
  for (const auto& line : s.setup) os << line << "\n";
  os << "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n";
  const std::string id = offset == 0 ? "$SLURM_ARRAY_TASK_ID" : "$((SLURM_ARRAY_TASK_ID + " + std::to_string(offset) + "))";
  const std::string trial = sh_quote(exe) + " sweep --trial \"" + id + "\" " + sh_quote(sweep_dir.string());
  // Without the right plugin an OpenMPI trial dies in MPI_Init (Debian's OpenMPI needs pmix).
  if (s.launcher == "srun")
    os << "srun " << (s.mpi.empty() ? "" : "--mpi=" + s.mpi + " ") << trial << "\n";
  else
    os << "mpirun " << trial << "\n";
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// State

const char* trial_state_name(TrialState s) {
  switch (s) {
    case TrialState::kPending: return "pending";
    case TrialState::kStarted: return "started";
    case TrialState::kCheckpointed: return "checkpointed";
    case TrialState::kDone: return "done";
  }
  return "?";
}

TrialState trial_state(const fs::path& sweep_dir, const Trial& trial) {
  std::error_code ec;
  if (fs::exists(done_file(sweep_dir, trial), ec)) return TrialState::kDone;
  const fs::path run = sweep_dir / trial.name;
  if (!fs::exists(run, ec)) return TrialState::kPending;
  if (fs::exists(run / "checkpoints", ec) && CheckpointManager(run / "checkpoints").latest())
    return TrialState::kCheckpointed;
  return TrialState::kStarted;
}

TrialResult read_trial_result(const fs::path& sweep_dir, const Trial& trial) {
  const fs::path file = done_file(sweep_dir, trial);
  json::Value v = json::parse(read_file(file), file.string());
  if (!v.is_object()) throw Error(file.string() + ": expected a JSON object");
  TrialResult r;
  if (const auto* x = v.find("return")) r.recent_return = x->as_double(file.string() + ": return");
  if (const auto* x = v.find("updates")) r.updates = x->as_int64(file.string() + ": updates");
  if (const auto* x = v.find("env_steps")) r.env_steps = x->as_int64(file.string() + ": env_steps");
  if (const auto* x = v.find("infos"); x && x->is_object())
    for (const auto& kv : x->members) r.infos[kv.first] = kv.second.as_double(file.string() + ": infos." + kv.first);
  return r;
}

namespace {

void write_trial_result(const fs::path& sweep_dir, const Trial& t, const TrainResult& r) {
  std::ostringstream os;
  os << "{\"trial\": " << json::quote(t.name) << ", \"index\": " << t.index << ", \"seed\": " << t.seed
     << ", \"return\": " << json::number(r.recent_return) << ", \"updates\": " << r.counters.updates
     << ", \"env_steps\": " << r.counters.env_steps << ", \"infos\": {";
  bool first = true;
  for (const auto& kv : r.recent_infos) {
    os << (first ? "" : ", ") << json::quote(kv.first) << ": " << json::number(kv.second);
    first = false;
  }
  os << "}}\n";
  fs::create_directories(sweep_dir / "done");
  write_file_atomic(done_file(sweep_dir, t), os.str());
}

std::string trials_tsv(const std::vector<Trial>& trials) {
  std::ostringstream os;
  os << "index\ttrial\tseed\toverrides\n";
  for (const auto& t : trials) {
    os << t.index << "\t" << t.name << "\t" << t.seed << "\t";
    for (std::size_t i = 0; i < t.overrides.size(); ++i) os << (i ? " " : "") << "--set " << t.overrides[i];
    os << "\n";
  }
  return os.str();
}

}  // namespace

Sweep open_sweep(const fs::path& dir) {
  const fs::path spec_file = dir / "sweep.yaml";
  if (!fs::exists(spec_file)) throw ConfigError(dir.string() + " is not a sweep directory (no sweep.yaml)");
  Sweep s;
  s.dir = fs::absolute(dir).lexically_normal();
  s.spec = load_sweep_spec(spec_file.string());
  s.trials = expand_trials(s.spec);
  return s;
}

namespace {

// The spec's `set` then the command line's --set: applied to every trial before its own values.
std::vector<std::string> common_overrides(const SweepSpec& spec, const std::vector<std::string>& cli_sets) {
  std::vector<std::string> common;
  if (spec.set.is_map())
    for (const auto& kv : spec.set.map) common.push_back(override_text(kv.first, kv.second));
  common.insert(common.end(), cli_sets.begin(), cli_sets.end());
  return common;
}

// The trials, after loading every one's config (ConfigError names the first bad trial).
std::vector<Trial> checked_trials(const SweepSpec& spec, const std::vector<std::string>& common) {
  spec.validate();
  std::vector<Trial> trials = expand_trials(spec);
  for (auto& t : trials) {
    std::vector<std::string> o = common;
    o.insert(o.end(), t.overrides.begin(), t.overrides.end());
    try {
      (void)load_train_config(spec.config, o);
    } catch (const ConfigError& e) {
      throw ConfigError("sweep: trial " + std::to_string(t.index) + " (" + t.name + "): " + e.what());
    }
  }
  return trials;
}

}  // namespace

Sweep create_sweep(const SweepSpec& spec_in, const std::vector<std::string>& cli_sets) {
  SweepSpec spec = spec_in;
  const std::vector<std::string> common = common_overrides(spec, cli_sets);
  const std::vector<Trial> trials = checked_trials(spec, common);
  const std::string base = resolved_yaml(load_train_config(spec.config, common));

  const fs::path dir = fs::absolute(fs::path(spec.dir) / spec.name).lexically_normal();
  if (fs::exists(dir))
    throw ConfigError("sweep: " + dir.string() + " exists; continue that sweep with `mnemo sweep --resume " +
                      dir.string() + "`, or give this one another name (--name)");
  if (spec.workdir.empty()) spec.workdir = fs::current_path().string();
  spec.workdir = fs::absolute(spec.workdir).lexically_normal().string();
  spec.config = "base.yaml";
  spec.set = config::Node{};  // already part of base.yaml

  // Written next to the final directory, then renamed: a sweep directory is complete or absent.
  fs::create_directories(dir.parent_path());
  const fs::path tmp = dir.parent_path() / ("." + spec.name + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_file_atomic(tmp / "base.yaml", base);
  write_file_atomic(tmp / "sweep.yaml", "# mnemo sweep (resolved): run with `mnemo sweep --resume <this directory>`\n" +
                                             config::to_yaml(spec));
  write_file_atomic(tmp / "trials.tsv", trials_tsv(trials));
  fs::rename(tmp, dir);
  fsync_directory(dir.parent_path());  // the rename itself on disk, as checkpoints do
  return open_sweep(dir);
}

// ---------------------------------------------------------------------------------------------
// Status

std::string sweep_status(const Sweep& sweep) {
  std::ostringstream os;
  struct Group {
    std::string name;
    std::vector<double> returns;
    std::map<std::string, std::vector<double>> infos;
    std::size_t trials = 0;
  };
  std::vector<Group> groups;
  std::map<std::string, std::size_t> state_counts;
  char line[512];
  std::snprintf(line, sizeof line, "%5s  %-40s %-12s %12s  %s\n", "index", "trial", "state", "return", "infos");
  os << line;
  for (const auto& t : sweep.trials) {
    if (groups.empty() || groups.back().name != t.group) groups.push_back(Group{t.group, {}, {}, 0});
    Group& g = groups.back();
    ++g.trials;
    const TrialState st = trial_state(sweep.dir, t);
    ++state_counts[trial_state_name(st)];
    std::string ret = "-", infos;
    if (st == TrialState::kDone) {
      TrialResult r = read_trial_result(sweep.dir, t);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4g", r.recent_return);
      ret = buf;
      g.returns.push_back(r.recent_return);
      for (const auto& kv : r.infos) {
        std::snprintf(buf, sizeof buf, "%s %.3g", kv.first.c_str(), kv.second);
        infos += (infos.empty() ? "" : ", ") + std::string(buf);
        g.infos[kv.first].push_back(kv.second);
      }
    }
    std::snprintf(line, sizeof line, "%5zu  %-40s %-12s %12s  %s\n", t.index, t.name.c_str(), trial_state_name(st),
                  ret.c_str(), infos.c_str());
    os << line;
  }
  os << "\n";
  for (const char* s : {"done", "checkpointed", "started", "pending"})
    if (state_counts[s]) os << state_counts[s] << " " << s << "  ";
  os << "(" << sweep.trials.size() << " trials)\n";

  auto mean_std = [](const std::vector<double>& v) {
    double m = 0, q = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    for (double x : v) q += (x - m) * (x - m);
    return std::make_pair(m, std::sqrt(q / static_cast<double>(v.size())));
  };
  std::stable_sort(groups.begin(), groups.end(), [&](const Group& a, const Group& b) {
    if (a.returns.empty() != b.returns.empty()) return !a.returns.empty();
    return !a.returns.empty() && mean_std(a.returns).first > mean_std(b.returns).first;
  });
  os << "\nper grid point, over finished seeds (best first):\n";
  for (const auto& g : groups) {
    std::snprintf(line, sizeof line, "  %-40s %zu/%zu", g.name.c_str(), g.returns.size(), g.trials);
    os << line;
    if (!g.returns.empty()) {
      auto ms = mean_std(g.returns);
      std::snprintf(line, sizeof line, "  return %.4g +- %.3g", ms.first, ms.second);
      os << line;
      for (const auto& kv : g.infos) {
        auto mi = mean_std(kv.second);
        std::snprintf(line, sizeof line, "  %s %.3g +- %.3g", kv.first.c_str(), mi.first, mi.second);
        os << line;
      }
    }
    os << "\n";
  }
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// Running

int run_trial(const fs::path& sweep_dir_in, std::size_t index) {
  Sweep sweep = open_sweep(sweep_dir_in);
  if (index >= sweep.trials.size())
    throw ConfigError("sweep --trial " + std::to_string(index) + ": the sweep has trials 0.." +
                      std::to_string(sweep.trials.size() - 1));
  const Trial& t = sweep.trials[index];
  const int rank = world_rank();
  const fs::path run = sweep.dir / t.name;
  // Rank 0 decides (and moves a dead attempt aside); every rank follows.
  std::string plan;
  if (rank == 0) {
    const TrialState st = trial_state(sweep.dir, t);
    if (st == TrialState::kDone) {
      plan = "done";
    } else if (st == TrialState::kCheckpointed) {
      plan = "resume";
    } else {
      if (st == TrialState::kStarted) {
        fs::create_directories(sweep.dir / "attempts");
        fs::path aside;
        for (int k = 1;; ++k) {
          aside = sweep.dir / "attempts" / (t.name + "." + std::to_string(k));
          if (!fs::exists(aside)) break;
        }
        fs::rename(run, aside);
        std::cout << "trial " << index << " (" << t.name << "): an earlier attempt left no checkpoint; moved to "
                  << aside.string() << std::endl;
      }
      plan = "start";
    }
  }
  if (world_size() > 1) plan = bcast_string(plan);
  if (plan == "done") {
    if (rank == 0) std::cout << "trial " << index << " (" << t.name << ") is already done" << std::endl;
    return 0;
  }
  if (!sweep.spec.workdir.empty() && ::chdir(sweep.spec.workdir.c_str()) != 0)
    throw Error("sweep: cannot enter the working directory " + sweep.spec.workdir);
  TrainArgs args;
  if (plan == "resume") {
    args.resume_dir = run.string();
  } else {
    args.config_path = (sweep.dir / "base.yaml").string();
    args.overrides = t.overrides;
    args.run_dir = run.string();
  }
  if (rank == 0)
    std::cout << "trial " << index << " (" << t.name << "): " << (plan == "resume" ? "resuming" : "starting") << " in "
              << run.string() << std::endl;
  install_signal_handlers();
  TrainResult r = train(args);
  if (interrupt_flag().load()) {
    if (rank == 0) std::cout << "trial " << index << " (" << t.name << ") interrupted; it resumes when run again" << std::endl;
    return kTrialInterrupted;
  }
  if (rank == 0) write_trial_result(sweep.dir, t, r);
  if (rank == 0) std::cout << "trial " << index << " (" << t.name << ") done: return " << r.recent_return << std::endl;
  return 0;
}

namespace {

// One child process `mnemo sweep --trial I DIR`, output appended to logs/<trial>.out.
pid_t spawn_trial(const Sweep& sweep, const Trial& t, const std::string& exe) {
  fs::create_directories(sweep.dir / "logs");
  SpawnOptions o;
  o.output = (sweep.dir / "logs" / (t.name + ".out")).string();
  return spawn_process(exe, {"sweep", "--trial", std::to_string(t.index), sweep.dir.string()}, o);
}

}  // namespace

int run_sweep_local(const Sweep& sweep, std::int64_t jobs) {
  if (world_size() > 1)
    throw ConfigError("sweep: the local runner starts its own trial processes; run it without mpirun "
                      "(under Slurm or mpirun, run one trial per job with `mnemo sweep --trial I DIR`)");
  if (jobs < 1) throw ConfigError("sweep: --jobs must be >= 1, got " + std::to_string(jobs));
  const std::string exe = self_exe();
  std::vector<const Trial*> queue;
  std::size_t done_before = 0;
  for (const auto& t : sweep.trials) {
    if (trial_state(sweep.dir, t) == TrialState::kDone)
      ++done_before;
    else
      queue.push_back(&t);
  }
  const std::size_t total = sweep.trials.size();
  std::cout << "sweep " << sweep.dir.string() << ": " << total << " trials, " << done_before << " done, "
            << queue.size() << " to run, " << jobs << " at a time" << std::endl;
  install_signal_handlers();
  using Clock = std::chrono::steady_clock;
  struct Running {
    const Trial* trial;
    Clock::time_point start;
  };
  std::map<pid_t, Running> running;
  std::vector<std::string> failed;
  std::size_t finished = 0, next = 0, interrupted = 0;
  double trial_seconds = 0;  // total duration of the trials finished in this session
  bool stopping = false;
  ProgressLine progress(/*interval_s=*/1.0, stdout);  // plain lines every 10 s off a terminal
  const auto start = Clock::now();
  while (next < queue.size() || !running.empty()) {
    if (interrupt_flag().load() && !stopping) {
      stopping = true;
      progress.finish();
      std::cout << "sweep: stopping; running trials checkpoint and exit" << std::endl;
      for (const auto& kv : running) ::kill(kv.first, SIGTERM);
    }
    while (!stopping && next < queue.size() && static_cast<std::int64_t>(running.size()) < jobs) {
      const Trial* t = queue[next++];
      running[spawn_trial(sweep, *t, exe)] = Running{t, Clock::now()};
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid)) {
      const Running r = running[pid];
      running.erase(pid);
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      const double secs = std::chrono::duration<double>(Clock::now() - r.start).count();
      progress.finish();
      if (code == 0) {
        ++finished;
        trial_seconds += secs;
        std::cout << "trial " << r.trial->index << " (" << r.trial->name << ") done in " << format_duration(secs);
        try {
          std::cout << ": return " << read_trial_result(sweep.dir, *r.trial).recent_return;
        } catch (const std::exception&) {
        }
        std::cout << std::endl;
      } else if (code == kTrialInterrupted) {
        ++interrupted;
        std::cout << "trial " << r.trial->index << " (" << r.trial->name << ") interrupted after a checkpoint" << std::endl;
      } else {
        failed.push_back(r.trial->name);
        std::cout << "trial " << r.trial->index << " (" << r.trial->name << ") failed with exit code " << code
                  << "; its output: " << (sweep.dir / "logs" / (r.trial->name + ".out")).string() << std::endl;
      }
      continue;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<ProgressItem> items = {
        {"trials {}/" + format_count(static_cast<double>(total)) + " done", static_cast<double>(done_before + finished), "count"},
        {"{} running", static_cast<double>(running.size()), "count"},
    };
    if (!failed.empty()) items.push_back({"{} failed", static_cast<double>(failed.size()), "count"});
    items.push_back({"elapsed {} min", elapsed / 60, "%.1f"});
    if (finished > 0) {
      // Trials still to run times the mean duration so far, spread over the parallel slots.
      const double per_trial = trial_seconds / static_cast<double>(finished);
      const double slots = static_cast<double>(std::min<std::size_t>(static_cast<std::size_t>(jobs), queue.size()));
      items.push_back({"ETA {} min", static_cast<double>(queue.size() - next + running.size()) * per_trial / slots / 60, "%.1f"});
    }
    progress.update(items);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  progress.finish();
  std::cout << "\n" << sweep_status(sweep);
  if (stopping || interrupted > 0) {
    std::cout << "sweep interrupted: continue with `mnemo sweep --resume " << sweep.dir.string() << "`" << std::endl;
    return 1;
  }
  if (!failed.empty()) {
    std::cout << failed.size() << " trial(s) failed (rerun them with `mnemo sweep --resume " << sweep.dir.string()
              << "`)" << std::endl;
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Command

namespace {

namespace {

// slurm.max_array_size, else the cluster's MaxArraySize (scontrol show config), else Slurm's
// default of 1001.
std::size_t max_array_size(const SlurmOptions& s) {
  if (s.max_array_size > 0) return static_cast<std::size_t>(s.max_array_size);
  FILE* p = popen("scontrol show config 2>/dev/null", "r");
  std::size_t size = 1001;
  if (p == nullptr) return size;
  char line[512];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    long long v = 0;
    if (std::sscanf(line, "MaxArraySize = %lld", &v) == 1 && v > 0) size = static_cast<std::size_t>(v);
  }
  pclose(p);
  return size;
}

}  // namespace

int write_slurm(const Sweep& sweep, bool submit) {
  std::vector<std::size_t> todo;
  for (const auto& t : sweep.trials)
    if (trial_state(sweep.dir, t) != TrialState::kDone) todo.push_back(t.index);
  if (todo.empty()) {
    std::cout << "sweep " << sweep.dir.string() << ": all " << sweep.trials.size() << " trials are done" << std::endl;
    return 0;
  }
  fs::create_directories(sweep.dir / "slurm");
  const auto arrays = split_arrays(todo, max_array_size(sweep.spec.slurm));
  std::vector<fs::path> scripts;
  for (std::size_t k = 0; k < arrays.size(); ++k) {
    const auto& [offset, indices] = arrays[k];
    const fs::path script = sweep.dir / (arrays.size() == 1 ? "sweep.sbatch" : "sweep-" + std::to_string(k) + ".sbatch");
    write_file_atomic(script, slurm_script(sweep.spec, sweep.dir, indices, self_exe(), offset));
    fs::permissions(script, fs::perms::owner_exec, fs::perm_options::add);
    std::cout << "wrote " << script.string() << ": " << indices.size() << " of " << sweep.trials.size()
              << " trials as a Slurm array (" << array_ranges(indices) << ")" << std::endl;
    scripts.push_back(script);
  }
  if (!submit) {
    for (const auto& script : scripts) std::cout << "submit it with: sbatch " << script.string() << std::endl;
    return 0;
  }
  for (const auto& script : scripts) {
    // The environment this process started with, which sbatch hands to the job: the variables
    // MPI_Init added here would make an mpirun inside the job take itself for one of our ranks.
    pid_t pid = 0;
    try {
      pid = spawn_process("sbatch", {script.string()}, SpawnOptions{});
    } catch (const std::exception& e) {
      throw Error(std::string("sweep --submit: cannot run sbatch (is Slurm installed here?): ") + e.what());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Error("sweep --submit: sbatch failed on " + script.string());
  }
  return 0;
}

}  // namespace

void sweep_command_line(CommandArgs& args, SweepArgs& a) {
  args.positionals("SPEC.yaml|DIR", &a.positional);
  args.flags()
      ("set", repeated(&a.sets, "KEY=VALUE"), "override a config key of every trial of a new sweep; repeatable")
      ("name", text(&a.name, "NAME"), "the new sweep's name (default: the spec's name)")
      ("jobs,j", integer(&a.jobs), "trials run here at a time (default 1)")
      ("dry-run", flag(&a.dry_run), "list the trials and check every trial's config; write nothing")
      ("slurm", flag(&a.slurm), "write DIR/sweep.sbatch (a Slurm job array) instead of running the trials here")
      ("submit", flag(&a.submit), "--slurm, then submit the script with sbatch")
      ("resume", text(&a.resume, "DIR"), "run (or submit) the trials that have not finished; checkpointed ones resume")
      ("status", text(&a.status, "DIR"), "each trial's state and result, and each grid point's mean over seeds")
      ("trial", integer(&a.trial, "I"), "run trial I of the sweep DIR (what the local runner and each array task do)");
  args.check([&args, &a] {
    if (args.given("trial") && a.trial < 0) throw ConfigError("--trial must be >= 0, got " + std::to_string(a.trial));
    if (a.jobs < 1) throw ConfigError("--jobs must be >= 1, got " + std::to_string(a.jobs));
    const int modes = !a.resume.empty() + !a.status.empty() + args.given("trial");
    if (modes > 1) throw ConfigError("use one of SPEC.yaml, --resume, --status and --trial");
    if (args.given("trial") && a.positional.size() != 1) throw ConfigError("--trial I DIR: expected the sweep directory");
    if ((!a.status.empty() || !a.resume.empty()) &&
        (!a.positional.empty() || !a.sets.empty() || !a.name.empty() || a.dry_run))
      throw ConfigError("--resume/--status DIR take no SPEC, --set, --name or --dry-run (the sweep's own files are used)");
    if (modes == 0 && a.positional.size() != 1) throw ConfigError("expected exactly one SPEC.yaml");
  });
}

int sweep_command(SweepArgs& a) {
  const bool slurm = a.slurm || a.submit;
  if (a.trial >= 0) return run_trial(a.positional[0], static_cast<std::size_t>(a.trial));
  if (!a.status.empty()) {
    std::cout << sweep_status(open_sweep(a.status));
    return 0;
  }
  if (!a.resume.empty()) {
    Sweep sweep = open_sweep(a.resume);
    return slurm ? write_slurm(sweep, a.submit) : run_sweep_local(sweep, a.jobs);
  }
  SweepSpec spec = load_sweep_spec(a.positional[0]);
  if (!a.name.empty()) spec.name = a.name;
  if (a.dry_run) {
    const std::vector<std::string> common = common_overrides(spec, a.sets);
    for (const auto& t : checked_trials(spec, common)) {
      std::cout << t.index << "\t" << t.name;
      for (const auto& s : common) std::cout << " --set " << s;
      for (const auto& s : t.overrides) std::cout << " --set " << s;
      std::cout << "\n";
    }
    std::cout << "(dry run: every trial's config is valid; nothing was written)" << std::endl;
    return 0;
  }
  Sweep sweep = create_sweep(spec, a.sets);
  std::cout << "created " << sweep.dir.string() << " (" << sweep.trials.size() << " trials)" << std::endl;
  return slurm ? write_slurm(sweep, a.submit) : run_sweep_local(sweep, a.jobs);
}

}  // namespace mnemo::launch
