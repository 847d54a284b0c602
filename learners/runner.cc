#include "learners/runner.h"

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/log.h"
#include "core/models/models.h"

namespace mnemo::learners {

RunCheckpoints::RunCheckpoints(Communicator& comm, const std::filesystem::path& run_dir, std::int64_t keep,
                               std::string config_yaml, torch::Device device)
    : comm_(comm), dir_(run_dir / "checkpoints"), keep_(static_cast<int>(keep)), config_yaml_(std::move(config_yaml)),
      device_(device) {}

RunCheckpoints::Restored RunCheckpoints::restore(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                                                 std::int64_t step) {
  CheckpointManager mgr(dir_, keep_);
  if (step < 0) {
    if (chief()) {
      auto latest = mgr.latest();
      if (latest) step = latest->step;
    }
    auto s = torch::tensor({step}, torch::kLong).to(device_);
    comm_.broadcast(s, 0);
    step = s.cpu()[0].item<std::int64_t>();
  }
  if (step < 0) throw Error("resume: no complete checkpoint in " + dir_.string());
  Restored r{mgr.step_dir(step), {}};
  nn::load_model_and_optimizer(r.dir.string(), model, optimizer, device_);
  r.state = StateFile::load(r.dir / "state.bin");
  return r;
}

void RunCheckpoints::save(std::int64_t step, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                          const StateFile& state, const std::string& summary,
                          const Extra& extra) {
  if (!chief()) return;
  CheckpointManager mgr(dir_, keep_);
  auto pending = mgr.begin(step);
  nn::save_model_and_optimizer(pending.dir().string(), model, optimizer);
  state.save(pending.dir() / "state.bin");
  write_file_atomic(pending.dir() / "config.yaml", config_yaml_);
  // Extras last: their files join the manifest commit() writes, so latest() never sees a
  // checkpoint whose extra part is missing or half-written.
  const std::string more = extra ? extra(pending.dir()) : std::string();
  auto info = pending.commit();
  MNEMO_INFO("checkpoint ", info.dir.string(), " (", summary, more.empty() ? "" : ", " + more, ")");
}

Communicator& checked(Communicator* comm, const char* who) {
  MNEMO_CHECK(comm != nullptr, who, " needs a communicator");
  return *comm;
}

void run_loop(Runnable& a, const RunnerOptions& o) {
  Communicator& comm = checked(o.comm, "the runner loop");
  if (o.resume) a.restore();
  a.reducer().broadcast_parameters(0);
  a.begin();
  const bool chief = comm.rank() == 0;
  ProgressLine progress(1.0);
  std::int64_t saved = o.resume ? a.step() : -1;
  bool interrupted = false;
  while (!a.done()) {
    if (!a.advance()) {
      interrupted = true;
      break;
    }
    interrupted = any_rank(comm, o.interrupt != nullptr && o.interrupt->load(), o.device);
    const bool last = a.done() || interrupted;
    const StepReport r = a.report(last, interrupted);
    if (chief && o.metrics != nullptr && !r.metrics.empty()) o.metrics->write(r.step, r.metrics);
    if (chief && o.progress && (progress.due() || last)) progress.update(r.progress, /*force=*/last);
    if (every(a.step(), o.checkpoint_every) && !last) {
      a.save_checkpoint();
      saved = a.step();
    }
    if (interrupted) break;
  }
  progress.finish();
  if (o.metrics != nullptr) o.metrics->flush();
  if (interrupted) MNEMO_WARN("interrupted at update ", a.step(), ": writing a checkpoint and stopping");
  if (saved != a.step()) a.save_checkpoint();
  a.finish(interrupted);
}

bool any_rank(Communicator& comm, bool flag, torch::Device device) {
  auto t = torch::tensor({flag ? 1.0f : 0.0f}).to(device);
  comm.allreduce_sum(t);
  return t.cpu().item<float>() > 0;
}

}  // namespace mnemo::learners
