#include "launch/replay_cmd.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <thread>

#include "core/atomic_file.h"
#include "core/log.h"
#include "core/net/params.h"
#include "core/runlog/checkpoint.h"
#include "launch/actor_cmd.h"
#include "launch/command.h"
#include "core/process.h"
#include "launch/train.h"
#include "replay/client.h"
#include "replay/server.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;


// The newest complete checkpoint that holds shard `shard`'s tables (-1: none).
std::int64_t newest_with_shard(const fs::path& run_dir, int shard) {
  CheckpointManager m(run_dir / "checkpoints");
  auto latest = m.latest();
  if (!latest) return -1;
  return fs::is_directory(latest->dir / "replay" / std::to_string(shard)) ? latest->step : -1;
}

}  // namespace

void replay_shard_command_line(CommandArgs& args, ReplayShardArgs& a) {
  args.positional("RUN_DIR", &a.run_dir);
  args.flags()
      ("config", text(&a.config, "FILE"), "the session's resolved config (default: RUN_DIR/session.yaml)")
      ("shard", integer(&a.shard, "K"), "this shard's index")
      ("shards", integer(&a.shards, "R"), "shards of the run")
      ("bind", text(&a.bind, "EP"), "endpoint to bind (default: the run's replay.bind)")
      ("endpoint-file", text(&a.endpoint_file, "FILE"), "write the bound endpoint here once serving")
      ("restore-step", integer(&a.restore_step, "S"), "restore checkpoint S's tables of this shard first")
      ("supervisor", integer(&a.supervisor, "PID"), "stop when process PID (the replay rank) ends");
  args.check([&a] {
    if (a.shards < 1 || a.shard < 0 || a.shard >= a.shards)
      throw ConfigError("--shard must be in [0, --shards), got " + std::to_string(a.shard) + " of " + std::to_string(a.shards));
  });
}

int replay_shard_command(ReplayShardArgs& a) {
  const fs::path run_dir = a.run_dir;
  TrainConfig c = load_train_config(a.config.empty() ? session_config_path(run_dir).string() : a.config, {});
  install_signal_handlers();
  if (a.supervisor > 0) stop_with_parent(static_cast<pid_t>(a.supervisor));
  log::set_level(log::parse_level(c.run.log_level));
  const std::string name = "replay-" + std::to_string(a.shard);
  log::set_file((run_dir / "logs" / (name + ".log")).string());
  log::set_thread_role(name);
  replay::ServerOptions o = replay_server_options(c, run_dir);
  if (!a.bind.empty()) o.bind = a.bind;
  replay::Server server(o);
  if (a.restore_step >= 0)
    restore_replay(server, run_dir, a.restore_step, static_cast<int>(a.shard), static_cast<int>(a.shards));
  if (!a.endpoint_file.empty()) write_file_atomic(a.endpoint_file, server.endpoint() + "\n");
  std::atomic<bool> done{false};
  std::thread watch([&] {
    while (!done.load()) {
      if (interrupt_flag().load()) {
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  try {
    server.run();
  } catch (...) {
    done = true;
    watch.join();
    throw;
  }
  done = true;
  watch.join();
  return 0;
}

ReplaySupervisor::ReplaySupervisor(const TrainConfig& c, fs::path run_dir, int shard, int shards)
    : c_(c), run_dir_(std::move(run_dir)), shard_(shard), shards_(shards) {
  endpoint_file_ = run_dir_ / "logs" / ("replay-" + std::to_string(shard_) + ".endpoint");
  // The shard starts before the chief writes session.yaml: it gets the session's config here.
  config_file_ = run_dir_ / "logs" / ("replay-" + std::to_string(shard_) + ".yaml");
  write_file_atomic(config_file_, resolved_yaml(c_));
}

pid_t ReplaySupervisor::spawn(const std::string& bind, std::int64_t restore_step) {
  std::error_code ec;
  fs::remove(endpoint_file_, ec);
  SpawnOptions so;
  so.without_mpi = true;
  std::vector<std::string> args = {"replay-shard", run_dir_.string(), "--config", config_file_.string(),
                                   "--shard", std::to_string(shard_), "--shards", std::to_string(shards_),
                                   "--bind", bind, "--endpoint-file", endpoint_file_.string(),
                                   "--supervisor", std::to_string(::getpid())};
  if (restore_step >= 0) args.insert(args.end(), {"--restore-step", std::to_string(restore_step)});
  return spawn_process(self_exe(), args, so);
}

std::string ReplaySupervisor::wait_for_endpoint(pid_t pid) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(c_.actor.param_timeout_ms);
  while (Clock::now() < deadline) {
    std::ifstream in(endpoint_file_);
    std::string ep;
    if (in && std::getline(in, ep) && !ep.empty()) return ep;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      throw Error("replay shard " + std::to_string(shard_) + " (process " + std::to_string(pid) +
                  ") ended before it served: " + describe_exit(status));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  throw Error("replay shard " + std::to_string(shard_) + " did not serve within " +
              std::to_string(c_.actor.param_timeout_ms) + " ms");
}

std::string ReplaySupervisor::start(std::int64_t resume_step) {
  pid_ = spawn(c_.replay.server.bind, c_.replay.checkpoint ? resume_step : -1);
  bound_ = wait_for_endpoint(pid_);
  MNEMO_INFO("replay shard ", shard_, " runs as process ", pid_, " at ", bound_);
  return bound_;
}

void ReplaySupervisor::supervise(const std::string& params_ep) {
  ParameterClient learner(params_ep, 2000, c_.replay.client.curve());
  auto heard = Clock::now(), asked = Clock::now() - std::chrono::seconds(10);
  std::int64_t held = 0;
  auto held_at = Clock::now();
  bool forwarded = false;
  for (std::int64_t restarts = 0;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r < 0 && errno != EINTR) throw Error("replay shard: waitpid failed: " + std::string(std::strerror(errno)));
    if (r == pid_) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
      const double ago = std::chrono::duration<double>(Clock::now() - held_at).count();
      MNEMO_ERROR("replay shard ", shard_, " (process ", pid_, ") died: ", describe_exit(status), "; it held ", held,
                  " items ", static_cast<int>(ago * 1000), " ms before");
      if (interrupt_flag().load()) return;
      if (restarts >= c_.actor.restarts) {
        MNEMO_WARN("replay shard ", shard_, " is not restarted: actor.restarts (", c_.actor.restarts, ") used up");
        return;
      }
      ++restarts;
      // Sync mode starts the shard empty: the snapshot's queue holds sequences already trained on.
      const std::int64_t from = c_.actor.sync || !c_.replay.checkpoint ? -1 : newest_with_shard(run_dir_, shard_);
      // The new plan before the new shard: every sequence it then receives that was made under the
      // old plan (the clients resend what the dead one had not answered) is recognisably superseded.
      try {
        learner.replan("replay shard " + std::to_string(shard_) + " restarted");
      } catch (const std::exception& e) {
        MNEMO_WARN("replay shard ", shard_, ": could not ask the learner to replan: ", e.what());
      }
      pid_ = spawn(bound_, from);
      wait_for_endpoint(pid_);
      MNEMO_WARN("replay shard ", shard_, " restarted as process ", pid_, " at ", bound_,
                 from >= 0 ? " from checkpoint " + std::to_string(from) : std::string(" empty"), " (restart ", restarts,
                 "); the items it held since are lost");
      continue;
    }
    const auto now = Clock::now();
    if (now - asked > std::chrono::seconds(1)) {
      asked = now;
      try {
        learner.fetch(std::numeric_limits<std::int64_t>::max());
        heard = now;
      } catch (const std::exception&) {
        if (now - heard > std::chrono::milliseconds(c_.actor.param_timeout_ms)) {
          MNEMO_ERROR("the learner (parameter server ", params_ep, ") has not answered for ",
                      std::chrono::duration_cast<std::chrono::seconds>(now - heard).count(), " s; replay shuts down");
          ::kill(pid_, SIGTERM);
          ::waitpid(pid_, &status, 0);
          return;
        }
      }
      try {
        replay::ClientOptions quick = c_.replay.client;
        quick.timeout_ms = 500;
        quick.reconnect = false;
        held = replay::Client(bound_, quick).info().size;
        held_at = now;
      } catch (const std::exception&) {
        // A shard busy or gone: the last count stands.
      }
    }
    if (interrupt_flag().load() && !forwarded) {
      ::kill(pid_, SIGTERM);  // preemption or Ctrl-C: the shard stops, as the learner will
      forwarded = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace mnemo::launch
