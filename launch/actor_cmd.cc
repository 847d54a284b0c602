#include "launch/actor_cmd.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/log.h"
#include "core/net/params.h"
#include "launch/command.h"
#include "core/process.h"
#include "launch/train.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

void write_endpoints(const fs::path& run_dir, const RunEndpoints& e) {
  write_file_atomic(run_dir / "endpoints",
                    "replay " + e.replay + "\nparams " + e.params + "\nlearners " + std::to_string(e.learners) + "\n");
}

void write_session_config(const fs::path& run_dir, const TrainConfig& c) {
  write_file_atomic(run_dir / "session.yaml", resolved_yaml(c));
}

fs::path session_config_path(const fs::path& run_dir) {
  const fs::path session = run_dir / "session.yaml";
  return fs::exists(session) ? session : resume_config(run_dir);
}

RunEndpoints read_endpoints(const fs::path& run_dir) {
  const fs::path path = run_dir / "endpoints";
  std::ifstream in(path);
  if (!in) throw ConfigError(path.string() + " not found: is the run live (its learner publishes it)?");
  RunEndpoints e;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::istringstream ls(line);
    std::string key, value;
    ls >> key >> value;
    if (key.empty()) continue;
    if (key == "replay") {
      e.replay = value;
    } else if (key == "params") {
      e.params = value;
    } else if (key == "learners") {
      try {
        e.learners = std::stoll(value);
      } catch (const std::exception&) {
        e.learners = 0;
      }
      if (e.learners < 1) throw ConfigError(path.string() + ":" + std::to_string(lineno) + ": bad learner count '" + value + "'");
    } else {
      throw ConfigError(path.string() + ":" + std::to_string(lineno) + ": unknown key '" + key + "'");
    }
  }
  if (e.replay.empty() || e.params.empty())
    throw ConfigError(path.string() + " names no replay or params endpoint");
  return e;
}

void actor_command_line(CommandArgs& args, ActorArgs& a) {
  args.positional("RUN_DIR", &a.run_dir);
  args.flags()
      ("set", repeated(&a.overrides, "KEY=VALUE"), "override a key of the run's config for this actor (actor.num_envs=4, ...)")
      ("id", integer(&a.id, "K"), "be the run's actor K (as an actor rank's process is); default: a fresh id")
      ("replay", text(&a.replay, "EP[,EP...]"), "replay shard endpoints (default: RUN_DIR/endpoints)")
      ("params", text(&a.params, "EP"), "parameter server endpoint (default: RUN_DIR/endpoints)")
      ("incarnation", integer(&a.incarnation), "restarts of this actor id so far (its seeds differ)")
      ("resume-step", integer(&a.resume_step, "S"), "the checkpoint step the run's session resumed from")
      ("supervisor", integer(&a.supervisor, "PID"), "stop when process PID (the actor rank) ends");
  args.check([&a] {
    if (a.id && *a.id < 0) throw ConfigError("--id must be >= 0");
    if (a.replay.empty() != a.params.empty()) throw ConfigError("--replay and --params go together");
  });
}

int actor_command(ActorArgs& a) {
  const fs::path run_dir = a.run_dir;
  TrainConfig c = load_train_config(session_config_path(run_dir).string(), a.overrides);
  if (c.learner.offline()) throw ConfigError("actor: " + run_dir.string() + " is an offline run (learner.algo " + c.learner.algo + ")");
  RunEndpoints e;
  if (!a.params.empty()) {
    e.replay = a.replay;
    e.params = a.params;
    e.learners = c.topology.learners;
  } else {
    e = read_endpoints(run_dir);
  }
  install_signal_handlers();
  if (a.supervisor > 0) stop_with_parent(static_cast<pid_t>(a.supervisor));
  set_threads(c.run);
  log::set_level(log::parse_level(c.run.log_level));
  const std::string name = a.id ? std::to_string(*a.id) : "pid" + std::to_string(::getpid());
  log::set_file((run_dir / "logs" / ("actor-" + name + ".log")).string());
  log::set_thread_role("actor-" + name);
  actors::ActorContext ac = actor_context(c, a.id ? static_cast<int>(*a.id) : 0, 1, e.learners);
  ac.join = !a.id.has_value();
  ac.incarnation = a.incarnation;
  ac.resume_step = a.resume_step;
  set_actor_state_files(ac, c, run_dir, a.resume_step);
  ac.replay_endpoint = e.replay;
  ac.params_endpoint = e.params;
  ac.stop = &interrupt_flag();
  actors::Actor actor(std::move(ac));
  actor.run();
  return 0;
}

namespace {

// Whether the learner still runs: it answers, and has not said stop.
bool learner_running(const std::string& params_endpoint, const transport::CurveClient& curve) {
  try {
    ParameterClient probe(params_endpoint, 2000, curve);
    return !probe.fetch(std::numeric_limits<std::int64_t>::max()).stop;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

void supervise_actor(const TrainConfig& c, const fs::path& run_dir, int id, const RunEndpoints& e,
                     std::int64_t resume_step) {
  const std::string exe = self_exe();
  SpawnOptions so;
  so.without_mpi = true;  // the actor is no MPI rank
  for (std::int64_t incarnation = 0;; ++incarnation) {
    const std::vector<std::string> args = {"actor",          run_dir.string(),      "--id",
                                           std::to_string(id), "--replay",          e.replay,
                                           "--params",       e.params,              "--incarnation",
                                           std::to_string(incarnation), "--resume-step", std::to_string(resume_step),
                                           "--supervisor", std::to_string(::getpid())};
    const pid_t pid = spawn_process(exe, args, so);
    MNEMO_INFO("actor ", id, " runs as process ", pid, incarnation > 0 ? " (restart " + std::to_string(incarnation) + ")" : "");
    int status = 0;
    bool forwarded = false;
    while (true) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) throw Error("actor " + std::to_string(id) + ": waitpid failed: " + std::strerror(errno));
      if (interrupt_flag().load() && !forwarded) {
        ::kill(pid, SIGTERM);  // preemption or Ctrl-C: the actor stops, as the learner will
        forwarded = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    MNEMO_ERROR("actor ", id, " (process ", pid, ") died: ", describe_exit(status));
    if (interrupt_flag().load()) return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
      MNEMO_ERROR("actor ", id, " is not restarted: it rejected its configuration");
      return;
    }
    if (incarnation >= c.actor.restarts) {
      MNEMO_WARN("actor ", id, " is not restarted: actor.restarts (", c.actor.restarts, ") used up");
      return;
    }
    if (!learner_running(e.params, c.replay.client.curve())) {
      MNEMO_WARN("actor ", id, " is not restarted: the learner at ", e.params, " has stopped or does not answer");
      return;
    }
  }
}

}  // namespace mnemo::launch
