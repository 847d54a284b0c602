#include "launch/train.h"

#include <dlfcn.h>
#include <mpi.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <thread>

#include "core/comm/communicator.h"
#include "core/log.h"
#include "core/models/tensor.h"
#include "core/net/params.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"
#include "core/runlog/tfevents.h"
#include "launch/actor_cmd.h"
#include "launch/command.h"
#include "launch/offline.h"
#include "launch/replay_cmd.h"
#include "learners/offline_trainer.h"
#include "replay/datasets/dataset.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

std::atomic<bool>& interrupt_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

namespace {

extern "C" void on_signal(int) { interrupt_flag().store(true); }

TrainConfig load_for(const TrainArgs& args, fs::path* run_dir, bool* resume) {
  if (!args.resume_dir.empty()) {
    *run_dir = args.resume_dir;
    *resume = true;
    return load_train_config(resume_config(*run_dir).string(), args.overrides);
  }
  if (args.config_path.empty()) throw ConfigError("train: a CONFIG file (or --resume RUN_DIR) is required");
  TrainConfig c = load_train_config(args.config_path, args.overrides);
  *resume = false;
  *run_dir = args.run_dir.empty() ? fs::path() : fs::path(args.run_dir);
  return c;
}

void wait_for(const std::function<bool()>& done, std::int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// The checkpoint a resumed run continues from (-1: none). Found once and handed to every role, so
// the learners and the replay shards restore the same step.
std::int64_t latest_step(const fs::path& run_dir) {
  auto latest = CheckpointManager(run_dir / "checkpoints").latest();
  return latest ? latest->step : -1;
}

Error no_checkpoint(const fs::path& run_dir) {
  return Error("resume: no complete checkpoint in " + (run_dir / "checkpoints").string());
}

// This rank's index among the ranks of `comm` on its node (MPI_COMM_TYPE_SHARED).
int node_local_rank(MPI_Comm comm) {
  int local_rank = 0;
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_free(&node);
  return local_rank;
}

// The device a learner trains on: the option parsed, and a CUDA device named without an index
// resolved to the GPU of the learner's place among the learners of its node (`local_learner`
// modulo the node's GPUs), so that learners sharing a node do not share one GPU.
torch::Device learner_device(const std::string& name, const std::string& option, int local_learner) {
  const torch::Device d = parse_device(name, option);
  if (!d.is_cuda() || d.has_index()) return d;
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_learner % torch::cuda::device_count()));
}

// The gradient plane of `size` data-parallel learners on `device`: NCCL for CUDA, else MPI.
std::unique_ptr<Communicator> learner_communicator(MPI_Comm* comm, int size, const torch::Device& device,
                                                   const std::string& option, std::int64_t timeout_ms) {
  if (size == 1) return std::make_unique<SingleCommunicator>();
  if (!device.is_cuda()) return make_mpi_communicator(comm, timeout_ms);
  // Gradients on the GPU are averaged by NCCL; MPI only carries CPU tensors.
  if (!nccl_available())
    throw ConfigError(option + ": " + device.str() + " under mpirun needs mnemo built with NCCL (MNEMO_WITH_CUDA)");
  return make_nccl_communicator(comm, device.index());
}

learners::TrainerContext trainer_context(const TrainConfig& c, const fs::path& run_dir, bool resume,
                                         std::int64_t resume_step) {
  auto probe = env_factory(c)(0);
  learners::TrainerContext t;
  t.options = c.learner;
  t.model = c.model;
  t.obs_spec = probe->observation_spec();
  t.action_space = probe->action_space();
  t.unroll_length = c.actor.unroll_length;
  t.seed = c.run.seed;
  t.replay_client = c.replay.client;
  t.run_dir = run_dir;
  t.config_yaml = resolved_yaml(c);
  t.resume = resume;
  t.resume_step = resume_step;
  const replay::TableOptions& table = c.replay.server.table;
  t.sync_queue = c.actor.sync && table.sampler == "fifo" && table.resolved_max_times_sampled() == 1;
  t.checkpoint_replay = c.replay.checkpoint;
  t.progress = c.run.progress;
  t.interrupt = &interrupt_flag();
  t.device = learner_device(c.learner.ppo.device, "learner.ppo.device", 0);
  return t;
}

actors::EvaluatorContext evaluator_context(const TrainConfig& c, const std::string& params_endpoint,
                                           const std::atomic<bool>* stop) {
  actors::EvaluatorContext e;
  e.options = c.evaluator;
  e.model = c.model;
  e.env_factory = env_factory(c);
  e.seed = c.run.seed;
  e.params_endpoint = params_endpoint;
  e.param_curve = c.replay.client.curve();
  e.param_timeout_ms = c.actor.param_timeout_ms;
  e.stop = stop;
  return e;
}

// The evaluator, where the config has one: its failure is logged and never ends the run.
void run_evaluator_role(const actors::EvaluatorContext& e) {
  log::set_thread_role("evaluator");
  try {
    actors::run_evaluator(e);
  } catch (const std::exception& ex) {
    MNEMO_ERROR("evaluator failed: ", ex.what());
  }
}

// The evaluator's report on the final parameters (version `updates`), written as the metrics
// row of the last step: waits up to actor.param_timeout_ms for it once the run is stopping.
void final_evaluation(const TrainConfig& c, ParameterServer& params, MetricsWriter& metrics,
                      const learners::TrainCounters& counters) {
  if (c.evaluator.every == 0) return;
  std::optional<EvalReport> last;
  wait_for(
      [&] {
        for (auto& r : params.take_reports()) last = std::move(r);
        return last && last->version >= counters.updates;
      },
      c.actor.param_timeout_ms);
  if (!last || last->version < counters.updates) {
    MNEMO_WARN("the evaluator did not report on the final parameters (update ", counters.updates, ") within ",
               c.actor.param_timeout_ms, " ms");
    if (!last) return;
  }
  Scalars row = {{"eval_update", static_cast<double>(last->version)}};
  for (const auto& kv : last->values) row.emplace_back("eval_" + kv.first, kv.second);
  metrics.write(counters.env_steps, row);
  metrics.flush();
  MNEMO_INFO("final evaluation (update ", last->version, "): return ", last->values["return"]);
}

void check_queue_capacity(const TrainConfig& c, std::int64_t actors, std::int64_t learners) {
  // Sync-mode actors need room for everything they produce before the learner can update.
  std::int64_t need = c.learner.batch_sequences * learners;
  if (c.replay.server.table.max_size < need)
    throw ConfigError("config: replay.table.max_size (" + std::to_string(c.replay.server.table.max_size) +
                      ") must hold at least learner.batch_sequences x learners = " + std::to_string(need));
  (void)actors;
}

}  // namespace

// With replay.checkpoint the learner asks the servers for snapshots inside its pending checkpoints,
// so they must accept directories under the run's checkpoints/ (and nowhere else).
replay::ServerOptions replay_server_options(const TrainConfig& c, const fs::path& run_dir) {
  replay::ServerOptions o = c.replay.server;
  if (c.replay.checkpoint) o.snapshot_root = fs::absolute(run_dir / "checkpoints").string();
  return o;
}

// Restores replay shard `shard` (of `shards`) from checkpoint `step` before it serves. A checkpoint
// saved by another number of shards is re-partitioned: each shard takes its share of all the saved
// ones (replay::repartition). One without replay contents (saved with replay.checkpoint off, or
// after a failed replay snapshot) leaves the tables empty, with a warning rather than an error:
// the model matters more.
std::int64_t restore_replay(replay::Server& server, const fs::path& run_dir, std::int64_t step, int shard, int shards) {
  const fs::path checkpoint = CheckpointManager(run_dir / "checkpoints").step_dir(step);
  std::vector<fs::path> saved;
  for (int k = 0; fs::is_directory(checkpoint / "replay" / std::to_string(k)); ++k)
    saved.push_back(checkpoint / "replay" / std::to_string(k));
  if (saved.empty()) {
    MNEMO_WARN("resume: ", checkpoint.string(), " holds no replay contents; the tables of shard ", shard,
               " start empty");
    return 0;
  }
  if (static_cast<int>(saved.size()) == shards) {
    const std::int64_t items = server.restore_from(saved[shard]);
    MNEMO_INFO("resume: replay shard ", shard, " restored ", items, " items from ", saved[shard].string());
    return items;
  }
  const std::int64_t items = server.restore_from(saved, shard, shards);
  MNEMO_INFO("resume: replay shard ", shard, " restored ", items, " items, its share of the ", saved.size(),
             " shard(s) saved in ", checkpoint.string(), " (re-partitioned over ", shards, ")");
  return items;
}

fs::path actor_state_dir(const TrainConfig& c, const fs::path& run_dir) {
  if (!c.actor.exact_resume || !c.actor.sync || c.replay.checkpoint) return {};
  return run_dir / "actor-states";
}

void set_actor_state_files(actors::ActorContext& a, const TrainConfig& c, const fs::path& run_dir,
                           std::int64_t resume_step) {
  a.state_dir = actor_state_dir(c, run_dir).string();
  if (a.state_dir.empty() || resume_step < 0 || a.incarnation > 0 || a.join) return;
  a.restore_state = (CheckpointManager(run_dir / "checkpoints").step_dir(resume_step) / "actors" /
                     (std::to_string(a.actor_id) + ".state"))
                        .string();
}

namespace {

// The chief's: a fresh directory of actor states for this session (a previous session's would
// describe episodes that this one does not continue).
fs::path fresh_actor_state_dir(const TrainConfig& c, const fs::path& run_dir) {
  const fs::path dir = actor_state_dir(c, run_dir);
  if (!dir.empty()) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  return dir;
}

}  // namespace

actors::ActorContext actor_context(const TrainConfig& c, int id, int total_actors, std::int64_t learners) {
  actors::ActorContext a;
  a.options = c.actor;
  a.model = c.model;
  a.env_factory = env_factory(c);
  a.actor_id = id;
  a.total_actors = total_actors;
  a.sequences_per_update = c.learner.batch_sequences * learners;
  a.seed = c.run.seed;
  a.replay_client = c.replay.client;
  return a;
}

// Thread settings per process: torch intra-op threads and OpenBLAS threads multiply, so both
// are set explicitly (see docs/configuration.md for the measured choice).
void set_threads(const RunOptions& run) {
  at::set_num_threads(static_cast<int>(run.torch_threads));
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(static_cast<int>(run.blas_threads));
}

void prepare_run_dir(const fs::path& dir, const std::string& resolved_config, bool resume, int rank) {
  fs::create_directories(dir / "logs");
  log::set_rank(rank);
  log::set_file((dir / "logs" / ("rank-" + std::to_string(rank) + ".log")).string());
  if (rank == 0 && !resume) write_file_atomic(dir / "config.yaml", resolved_config);
}

int world_size() {
  int initialized = 0, size = 1;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

int world_rank() {
  int initialized = 0, rank = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

std::string bcast_string(std::string s) {
  int n = static_cast<int>(s.size());
  MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
  s.resize(static_cast<std::size_t>(n));
  MPI_Bcast(s.data(), n, MPI_CHAR, 0, MPI_COMM_WORLD);
  return s;
}

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

fs::path new_run_dir(const RunOptions& run) {
  fs::path base = fs::path(run.dir) / run.name;
  if (!fs::exists(base)) return base;
  for (int i = 2;; ++i) {
    fs::path p = fs::path(run.dir) / (run.name + "-" + std::to_string(i));
    if (!fs::exists(p)) return p;
  }
}

TrainResult train_embedded(const TrainConfig& c, const fs::path& run_dir, bool resume) {
  if (c.learner.offline()) return train_offline(c, run_dir, resume);
  set_threads(c.run);
  log::set_level(log::parse_level(c.run.log_level));
  prepare_run_dir(run_dir, resolved_yaml(c), resume, 0);
  check_queue_capacity(c, c.actor.num_actors, 1);
  MNEMO_INFO("run directory ", run_dir.string(), resume ? " (resuming)" : "");
  const std::int64_t step = resume ? latest_step(run_dir) : -1;
  if (resume && step < 0) throw no_checkpoint(run_dir);

  // Every role as threads over inproc:// endpoints: same code as the distributed run.
  replay::ServerOptions replay_options = replay_server_options(c, run_dir);
  std::string params_bind = c.learner.param_bind;
  if (c.run.transport == "inproc") {
    // Unique per session: a resumed run in the same process must not race the release of the
    // previous session's inproc names.
    static std::atomic<int> session{0};
    std::string tag = std::to_string(::getpid()) + "-" + std::to_string(session++);
    replay_options.bind = "inproc://replay-" + tag;
    params_bind = "inproc://params-" + tag;
  }
  replay::Server server(replay_options);
  if (resume && c.replay.checkpoint) restore_replay(server, run_dir, step, /*shard=*/0, /*shards=*/1);
  server.start();
  ParameterServer params(params_bind, c.replay.server.curve());
  params.expect_actors(c.actor.num_actors, c.actor.num_envs, c.learner.actor_timeout_ms);
  write_session_config(run_dir, c);
  write_endpoints(run_dir, {server.endpoint(), params.endpoint(), 1});
  TfEventsWriter events(run_dir);
  MetricsWriter metrics(run_dir, resume);
  metrics.add_sink(events.sink());
  SingleCommunicator comm;

  learners::TrainerContext tc = trainer_context(c, run_dir, resume, step);
  tc.comm = &comm;
  tc.replay_endpoint = server.endpoint();
  tc.params = &params;
  tc.actor_state_dir = fresh_actor_state_dir(c, run_dir);
  tc.metrics = &metrics;
  learners::Trainer trainer(std::move(tc));

  std::atomic<bool> stop_actors{false};
  std::vector<std::thread> actor_threads;
  std::vector<actors::ActorStats> actor_stats(static_cast<std::size_t>(c.actor.num_actors));
  for (int i = 0; i < c.actor.num_actors; ++i) {
    actors::ActorContext ac = actor_context(c, i, static_cast<int>(c.actor.num_actors), 1);
    ac.replay_endpoint = server.endpoint();
    ac.params_endpoint = params.endpoint();
    ac.stop = &stop_actors;
    ac.resume_step = step;
    set_actor_state_files(ac, c, run_dir, step);
    actor_threads.emplace_back([ac = std::move(ac), stats = &actor_stats[static_cast<std::size_t>(i)]]() mutable {
      log::set_thread_role("actor-" + std::to_string(ac.actor_id));
      try {
        actors::Actor actor(std::move(ac));
        actor.run();
        *stats = actor.stats();
      } catch (const std::exception& e) {
        // A crashed actor must not take the run down: the others keep feeding the learner.
        MNEMO_ERROR("actor failed: ", e.what());
      }
    });
  }

  std::thread evaluator;
  if (c.evaluator.every > 0)
    evaluator = std::thread(run_evaluator_role, evaluator_context(c, params.endpoint(), &stop_actors));

  std::exception_ptr failure;
  try {
    log::set_thread_role("learner");
    trainer.run();
  } catch (...) {
    failure = std::current_exception();
  }
  log::set_thread_role("main");
  params.set_stopping();
  if (!failure) final_evaluation(c, params, metrics, trainer.counters());
  stop_actors = true;
  for (auto& t : actor_threads) t.join();
  if (evaluator.joinable()) evaluator.join();
  server.stop();
  if (failure) std::rethrow_exception(failure);

  TrainResult r;
  r.run_dir = run_dir;
  r.counters = trainer.counters();
  r.recent_return = trainer.recent_return();
  r.recent_infos = trainer.recent_infos();
  r.learner_timing = trainer.timing();
  r.actor_stats = std::move(actor_stats);
  MNEMO_INFO("done: ", r.counters.env_steps, " env steps, ", r.counters.updates, " updates, recent return ",
             r.recent_return);
  return r;
}

namespace {

// Shares each rank's endpoint string with every rank (the control plane's endpoint discovery).
std::vector<std::string> allgather_strings(const std::string& mine) {
  constexpr int kLen = 512;
  char buf[kLen] = {0};
  MNEMO_CHECK(mine.size() < kLen, "endpoint too long: ", mine);
  std::memcpy(buf, mine.data(), mine.size());
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::vector<char> all(static_cast<std::size_t>(kLen) * size);
  MPI_Allgather(buf, kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; r < size; ++r) out.emplace_back(all.data() + static_cast<std::size_t>(r) * kLen);
  return out;
}

// An endpoint bound on a wildcard address is advertised with this rank's node name (its host name
// or its address on topology.interface).
std::string advertised(const std::string& endpoint, const std::string& node) {
  for (const std::string any : {"tcp://0.0.0.0:", "tcp://*:"})
    if (endpoint.rfind(any, 0) == 0) return "tcp://" + node + ":" + endpoint.substr(any.size());
  return endpoint;
}

// A service bound on loopback cannot be reached from the run's other nodes. Decided from the config
// alone, so that every rank refuses alike rather than some waiting for the others forever.
void check_reachable(const std::string& option, const std::string& bind, std::size_t nodes) {
  if (nodes > 1 && (bind.rfind("tcp://127.", 0) == 0 || bind.rfind("tcp://localhost:", 0) == 0 ||
                    bind.rfind("ipc://", 0) == 0 || bind.rfind("inproc://", 0) == 0))
    throw ConfigError(option + ": " + bind + " cannot be reached from the run's other nodes (" + std::to_string(nodes) +
                      " in all); bind tcp://0.0.0.0:* (advertised under each node's name)");
}

// Every rank's node and GPUs, exchanged so that all of them compute the same placement.
Placement placement(const TrainConfig& c, const std::string& node) {
  const std::int64_t gpus = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  std::vector<RankSite> sites;
  for (const auto& text : allgather_strings(std::to_string(gpus) + " " + node)) {
    const auto space = text.find(' ');
    sites.push_back(RankSite{text.substr(space + 1), std::stoll(text.substr(0, space))});
  }
  return place_roles(sites, c.topology, parse_device(c.learner.ppo.device, "learner.ppo.device").is_cuda());
}

TrainResult train_distributed(const TrainConfig& c, fs::path run_dir, bool resume) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (c.evaluator.every > 0 && !c.topology.evaluator)
    throw ConfigError("evaluator.every: under mpirun the evaluator is a rank of its own; set topology.evaluator: true");
  std::string node;
  try {
    node = node_name(c.topology.interface);
  } catch (const std::exception& e) {
    // The other ranks wait in the exchange below: take the job down rather than hang it.
    MNEMO_ERROR("rank ", rank, " failed: ", e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const Placement place = placement(c, node);
  check_reachable("learner.param_bind", c.learner.param_bind, place.nodes.size());
  check_reachable("replay.bind", c.replay.server.bind, place.nodes.size());
  const int L = static_cast<int>(place.learners.size()), R = static_cast<int>(place.shards.size());
  const int chief = place.chief();
  if (R > 1) {
    // Clients spread inserts round-robin over the shards and split every sample evenly, so the
    // per-unroll and per-update sequence counts must divide evenly for sync mode to make progress.
    if (c.learner.batch_sequences % R != 0 || c.actor.num_envs % R != 0)
      throw ConfigError("topology.replay: with " + std::to_string(R) +
                        " replay shards, learner.batch_sequences and actor.num_envs must be multiples of " +
                        std::to_string(R));
  }
  if (c.replay.server.table.max_size * R < c.learner.batch_sequences * L)
    throw ConfigError("config: replay.table.max_size x topology.replay must hold learner.batch_sequences x learners = " +
                      std::to_string(c.learner.batch_sequences * L) + " sequences");
  run_dir = bcast_string(run_dir.string());
  set_threads(c.run);
  log::set_level(log::parse_level(c.run.log_level));
  if (rank == 0) prepare_run_dir(run_dir, resolved_yaml(c), resume, rank);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank != 0) prepare_run_dir(run_dir, resolved_yaml(c), resume, rank);
  std::int64_t step = -1;
  if (resume) {
    if (rank == 0) step = latest_step(run_dir);  // verifies every checksum: once, not on every rank
    MPI_Bcast(&step, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (step < 0) throw no_checkpoint(run_dir);  // on every rank alike
  }

  const Role role = place.role[rank];
  const bool learner = role == Role::kLearner, replay_rank = role == Role::kReplay;
  const bool evaluator_rank = role == Role::kEvaluator, is_chief = rank == chief;
  std::unique_ptr<ReplaySupervisor> replay_shard;
  std::unique_ptr<ParameterServer> params;
  fs::path actor_states;  // the chief's
  std::string mine;
  if (replay_rank) {
    // The shard runs as a child process that this rank restarts when it dies (docs/launching.md).
    log::set_thread_role("replay");
    replay_shard = std::make_unique<ReplaySupervisor>(c, run_dir, place.index[rank], R);
    try {
      mine = advertised(replay_shard->start(resume ? step : -1), node);
    } catch (const std::exception& e) {
      // The other ranks wait in the endpoint exchange below: take the job down rather than hang it.
      MNEMO_ERROR("rank ", rank, " failed: ", e.what());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  } else if (is_chief) {
    log::set_thread_role("learner");
    write_session_config(run_dir, c);  // before the endpoint exchange: actor processes start after it
    actor_states = fresh_actor_state_dir(c, run_dir);
    params = std::make_unique<ParameterServer>(c.learner.param_bind, c.replay.server.curve());
    params->expect_actors(static_cast<std::int64_t>(place.actors.size()), c.actor.num_envs,
                          c.learner.actor_timeout_ms);
    mine = advertised(params->endpoint(), node);
  }
  auto endpoints = allgather_strings(mine);
  // Every replay shard, in shard order; clients take the comma-separated list and shard over it.
  std::string replay_ep;
  std::vector<std::string> shards;
  for (int r : place.shards) {
    shards.push_back(endpoints[r]);
    replay_ep += (replay_ep.empty() ? "" : ",") + endpoints[r];
  }
  const std::string params_ep = endpoints[chief];
  const RunEndpoints published{replay_ep, params_ep, L};
  if (is_chief) write_endpoints(run_dir, published);
  // The learners' communicator, ordered by learner index: the chief is its rank 0.
  MPI_Comm learner_comm;
  MPI_Comm_split(MPI_COMM_WORLD, learner ? 0 : 1, learner ? static_cast<int>(place.index[rank]) : rank,
                 &learner_comm);
  if (rank == 0) MNEMO_INFO("placement over ", place.nodes.size(), " node(s):\n", place.describe());
  MNEMO_INFO("rank ", rank, "/", size, " role ", role_name(role), " on ", node, "; replay ", replay_ep, ", params ",
             params_ep, c.replay.server.curve_secret_key_file.empty() ? "" : "; data plane with CURVE");

  TrainResult result;
  result.run_dir = run_dir;
  std::exception_ptr failure;
  try {
    if (replay_rank) {
      replay_shard->supervise(params_ep);  // until the chief shuts the shard down, or the learner is gone
    } else if (learner) {
      int learners_n = 1, local_learner = 0;
      MPI_Comm_size(learner_comm, &learners_n);
      for (int r : place.learners)
        if (r < rank && place.node[r] == place.node[rank]) ++local_learner;
      const torch::Device device = learner_device(c.learner.ppo.device, "learner.ppo.device", local_learner);
      auto comm = learner_communicator(&learner_comm, learners_n, device, "learner.ppo.device",
                                       c.learner.collective_timeout_ms);
      std::unique_ptr<TfEventsWriter> events;
      std::unique_ptr<MetricsWriter> metrics;
      if (is_chief) {
        events = std::make_unique<TfEventsWriter>(run_dir);
        metrics = std::make_unique<MetricsWriter>(run_dir, resume);
        metrics->add_sink(events->sink());
      }
      learners::TrainerContext tc = trainer_context(c, run_dir, resume, step);
      tc.comm = comm.get();
      tc.device = device;
      tc.replay_endpoint = replay_ep;
      tc.params = params.get();
      tc.actor_state_dir = actor_states;
      tc.metrics = metrics.get();
      tc.progress = c.run.progress && is_chief;
      learners::Trainer trainer(std::move(tc));
      trainer.run();
      result.counters = trainer.counters();
      result.recent_return = trainer.recent_return();
      result.recent_infos = trainer.recent_infos();
      result.learner_timing = trainer.timing();
      if (is_chief) {
        // Stop actors (through parameter fetches), release any blocked on a full replay table by
        // shutting the server down, and keep answering until every actor has seen the stop.
        params->set_stopping();
        // The server may close before its reply leaves: a missing reply is no failure here.
        replay::ClientOptions quick = c.replay.client;
        quick.timeout_ms = 2000;
        for (const auto& shard : shards) {
          try {
            replay::Client(shard, quick).shutdown_server();
          } catch (const std::exception& e) {
            MNEMO_INFO("replay server ", shard, " shut down (", e.what(), ")");
          }
        }
        final_evaluation(c, *params, *metrics, trainer.counters());
        wait_for([&] { return params->all_actors_stopped(); }, c.learner.stop_grace_ms);
      }
    } else if (evaluator_rank) {
      run_evaluator_role(evaluator_context(c, params_ep, &interrupt_flag()));
    } else {
      // The actor runs as a child process that this rank restarts when it dies: a crashed or
      // killed actor never takes an MPI rank down with it (docs/launching.md).
      log::set_thread_role("actor-" + std::to_string(place.index[rank]));
      supervise_actor(c, run_dir, place.index[rank], published, step);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      MNEMO_ERROR("rank ", rank, " failed: ", e.what());
    }
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  params.reset();
  replay_shard.reset();
  // No barrier at the end: every rank is done with the others once its role has returned, and
  // none may wait for a rank that is gone.
  MPI_Comm_free(&learner_comm);
  return result;
}

}  // namespace

TrainResult train_offline(const TrainConfig& c, fs::path run_dir, bool resume) {
  int rank = 0, size = 1, initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
  }
  if (size > 1) run_dir = bcast_string(run_dir.string());
  set_threads(c.run);
  log::set_level(log::parse_level(c.run.log_level));
  if (rank == 0) prepare_run_dir(run_dir, resolved_yaml(c), resume, rank);
  if (size > 1) MPI_Barrier(MPI_COMM_WORLD);
  if (rank != 0) prepare_run_dir(run_dir, resolved_yaml(c), resume, rank);
  if (rank == 0) MNEMO_INFO("run directory ", run_dir.string(), resume ? " (resuming)" : "", "; ", c.learner.algo,
                            " on ", c.learner.dt.dataset, " over ", size, " learner rank(s)");

  MPI_Comm world = MPI_COMM_WORLD;
  const torch::Device device = learner_device(c.learner.dt.device, "learner.dt.device", size > 1 ? node_local_rank(world) : 0);
  std::unique_ptr<Communicator> comm = learner_communicator(&world, size, device, "learner.dt.device",
                                                                 c.learner.collective_timeout_ms);
  std::unique_ptr<TfEventsWriter> events;
  std::unique_ptr<MetricsWriter> metrics;
  if (rank == 0) {
    events = std::make_unique<TfEventsWriter>(run_dir);
    metrics = std::make_unique<MetricsWriter>(run_dir, resume);
    metrics->add_sink(events->sink());
  }
  auto factory = env_factory(c);
  auto probe = factory(0);
  learners::OfflineContext oc;
  oc.algo = c.learner.algo;
  oc.options = c.learner.dt;
  oc.options.device = device.str();  // with the GPU index resolved for this rank
  oc.shape.obs_spec = probe->observation_spec();
  oc.shape.action_space = probe->action_space();
  oc.dataset = std::make_shared<replay::Dataset>(replay::read_dataset(c.learner.dt.dataset));
  oc.seed = c.run.seed;
  oc.comm = comm.get();
  oc.metrics = metrics.get();
  oc.run_dir = run_dir;
  oc.config_yaml = resolved_yaml(c);
  oc.resume = resume;
  oc.progress = c.run.progress && rank == 0;
  oc.checkpoint_every = c.learner.checkpoint_every;
  oc.keep_checkpoints = c.learner.keep_checkpoints;
  oc.log_every = c.learner.log_every;
  oc.interrupt = &interrupt_flag();
  const learners::DTOptions& o = c.learner.dt;
  const std::uint64_t eval_seed = c.run.seed + 1000;  // episodes the dataset's collection did not play
  oc.evaluate = [&, eval_seed](learners::DecisionTransformer model, double target) {
    return evaluate_dt(model, o, factory, o.eval_episodes, o.eval_envs, target, eval_seed);
  };
  learners::OfflineTrainer trainer(std::move(oc));
  trainer.run();
  TrainResult r;
  r.run_dir = run_dir;
  r.counters.updates = trainer.updates();
  const auto& eval = trainer.last_eval();
  for (const auto& kv : eval) {
    if (kv.first == "eval_return")
      r.recent_return = kv.second;
    else if (kv.first.rfind("eval_", 0) == 0)
      r.recent_infos[kv.first.substr(5)] = kv.second;
  }
  if (rank == 0) MNEMO_INFO("done: ", trainer.updates(), " updates, eval return ", r.recent_return);
  if (size > 1) MPI_Barrier(MPI_COMM_WORLD);
  return r;
}

TrainResult train(const TrainArgs& args) {
  fs::path run_dir;
  bool resume = false;
  TrainConfig c = load_for(args, &run_dir, &resume);
  int mpi_size = 1, initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
  if (run_dir.empty()) run_dir = new_run_dir(c.run);
  if (c.learner.offline()) return train_offline(c, run_dir, resume);
  if (mpi_size > 1) return train_distributed(c, run_dir, resume);
  return train_embedded(c, run_dir, resume);
}

fs::path resume_config(const fs::path& run_dir) {
  const fs::path cfg = run_dir / "config.yaml";
  if (!fs::exists(cfg)) throw ConfigError("--resume: " + cfg.string() + " not found (is it a run directory?)");
  return cfg;
}

config::Node load_config_mapping(const std::string& path, const std::vector<std::string>& overrides) {
  config::Node root;
  if (!path.empty()) {
    root = config::load_file(path);
    if (root.kind != config::Node::Kind::kNull && !root.is_map())
      throw ConfigError("config: " + path + " must be a YAML mapping");
  }
  if (root.kind == config::Node::Kind::kNull) root.kind = config::Node::Kind::kMap;
  for (const auto& o : overrides) config::apply_override(root, o);
  return root;
}

void run_command_line(CommandArgs& args, RunArgs& a, const std::string& set_example) {
  args.optional_positional("CONFIG", &a.config_path);
  const std::string set_help = "override a config key (" + set_example + ", ...); repeatable";  // copied by boost
  args.flags()
      ("set", repeated(&a.overrides, "KEY=VALUE"), set_help.c_str())
      ("run-dir", text(&a.run_dir, "DIR"), "exact run directory of a new run (default runs/<run.name>[-N])")
      ("resume", text(&a.resume_dir, "RUN_DIR"), "continue a run from its latest checkpoint");
  args.check([&a] {
    if (!a.resume_dir.empty() && !a.config_path.empty())
      throw ConfigError("--resume RUN_DIR takes no CONFIG (the run's config.yaml is used)");
    if (!a.resume_dir.empty() && !a.run_dir.empty()) throw ConfigError("--resume and --run-dir cannot be combined");
  });
}

fs::path agree_run_dir(fs::path dir, const RunOptions& run, const std::string& resolved_config, bool resume) {
  const int size = world_size(), rank = world_rank();
  if (dir.empty()) dir = new_run_dir(run);
  if (size > 1) dir = bcast_string(dir.string());
  set_threads(run);
  log::set_level(log::parse_level(run.log_level));
  if (rank == 0) prepare_run_dir(dir, resolved_config, resume, rank);
  if (size > 1) MPI_Barrier(MPI_COMM_WORLD);
  if (rank != 0) prepare_run_dir(dir, resolved_config, resume, rank);
  return dir;
}

LearnerRank::LearnerRank(const fs::path& run_dir, bool resume) {
  if (world_size() > 1) {
    MPI_Comm world = MPI_COMM_WORLD;
    comm = make_mpi_communicator(&world);
  } else {
    comm = std::make_unique<SingleCommunicator>();
  }
  if (world_rank() == 0) {
    events = std::make_unique<TfEventsWriter>(run_dir);
    metrics = std::make_unique<MetricsWriter>(run_dir, resume);
    metrics->add_sink(events->sink());
  }
}

LearnerRank::~LearnerRank() = default;

void on_every_rank(const std::function<void()>& body) {
  if (world_size() == 1) return body();
  try {
    body();
    MPI_Barrier(MPI_COMM_WORLD);
  } catch (const std::exception& e) {
    MNEMO_ERROR("rank ", world_rank(), " failed: ", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
    throw;
  }
}

}  // namespace mnemo::launch
