// `mnemo pretrain-encoder`. See pretrain_encoder.h.
#include "launch/pretrain_encoder.h"

#include <iostream>
#include <memory>

#include "core/log.h"
#include "core/runlog/metrics.h"
#include "launch/command.h"
#include "launch/train.h"
#include "replay/datasets/dataset.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

EncoderPretrainConfig load_encoder_pretrain_config(const std::string& path, const std::vector<std::string>& overrides) {
  EncoderPretrainConfig c;
  config::bind(load_config_mapping(path, overrides), "", c);
  if (!c.env.is_map()) throw ConfigError("config: 'env' must be a mapping with a 'name' (the env of the RL config)");
  make_env_from(c.env);
  c.run.validate();
  c.pretrain.validate();
  if (!c.pretrain.dataset.empty()) c.pretrain.dataset = fs::absolute(c.pretrain.dataset).lexically_normal().string();
  if (!c.pretrain.replay.empty()) c.pretrain.replay = fs::absolute(c.pretrain.replay).lexically_normal().string();
  return c;
}

std::string resolved_yaml(const EncoderPretrainConfig& c) {
  EncoderPretrainConfig copy = c;
  copy.env = resolved_env(c.env);
  return "# mnemo resolved encoder pretraining config\n" + config::to_yaml(copy);
}

EncoderPretrainResult pretrain_encoder(const EncoderPretrainArgs& args) {
  const bool resume = !args.resume_dir.empty();
  EncoderPretrainConfig c = load_encoder_pretrain_config(
      resume ? resume_config(args.resume_dir).string() : args.config_path, args.overrides);
  if (!args.dataset.empty()) c.pretrain.dataset = fs::absolute(args.dataset).lexically_normal().string();
  if (!args.replay.empty()) c.pretrain.replay = fs::absolute(args.replay).lexically_normal().string();
  if (c.pretrain.dataset.empty() == c.pretrain.replay.empty())
    throw ConfigError(c.pretrain.dataset.empty()
                          ? "a dataset is required (--dataset PATH or --replay DIR, or pretrain.dataset / pretrain.replay)"
                          : "give a dataset or a replay snapshot, not both (pretrain.dataset and pretrain.replay)");
  const std::string source = c.pretrain.dataset.empty() ? c.pretrain.replay : c.pretrain.dataset;
  // The dataset is input to check before anything is written: its observations must be the env's.
  const Spec spec = make_env_from(c.env)->observation_spec();
  std::shared_ptr<const replay::Dataset> data;
  std::vector<std::int64_t> anchors;
  const auto& lo = c.pretrain.loss;
  try {
    data = std::make_shared<const replay::Dataset>(c.pretrain.dataset.empty()
                                                       ? learners::replay_observations(c.pretrain.replay, spec)
                                                       : replay::read_dataset(c.pretrain.dataset));
    anchors = learners::contrastive_anchors(*data, spec, lo.type == "atc" ? lo.delta : 0, source);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    throw ConfigError(std::string(c.pretrain.dataset.empty() ? "pretrain.replay: " : "pretrain.dataset: ") + e.what());
  }
  nn::make_encoder(c.model, spec);  // the encoder exists for these observations (ConfigError otherwise)

  const fs::path run_dir = agree_run_dir(resume ? fs::path(args.resume_dir) : fs::path(args.run_dir), c.run,
                                         resolved_yaml(c), resume);
  MNEMO_INFO("run directory ", run_dir.string(), resume ? " (resuming)" : "", "; data ", source, ": ",
             data->size(), " steps, ", anchors.size(), " anchors; ", nn::encoder_type(c.model, spec), " encoder of ",
             spec.str(), "; ", world_size(), " rank(s)");
  EncoderPretrainResult r;
  on_every_rank([&] {
    LearnerRank ranks(run_dir, resume);
    learners::EncoderPretrainContext ctx;
    ctx.options = c.pretrain;
    ctx.model = c.model;
    ctx.obs_spec = spec;
    ctx.data = data;
    ctx.data_name = source;
    ctx.seed = c.run.seed;
    ctx.comm = ranks.comm.get();
    ctx.metrics = ranks.metrics.get();
    ctx.run_dir = run_dir;
    ctx.config_yaml = resolved_yaml(c);
    ctx.resume = resume;
    ctx.progress = c.run.progress && world_rank() == 0;
    ctx.interrupt = &interrupt_flag();
    learners::EncoderPretrainer trainer(std::move(ctx));
    trainer.run();
    r.run_dir = run_dir;
    r.counters = trainer.counters();
    if (r.counters.updates >= c.pretrain.updates) r.encoder = trainer.encoder_path();
    r.first_loss = trainer.first_loss();
    r.loss = trainer.last_loss();
    r.accuracy = trainer.last_accuracy();
  });
  return r;
}

void pretrain_encoder_command_line(CommandArgs& args, EncoderPretrainArgs& a) {
  args.flags()
      ("dataset", text(&a.dataset, "PATH"), "the observations to learn from (same as --set pretrain.dataset=PATH)")
      ("replay", text(&a.replay, "DIR"),
       "or those of a replay snapshot: RUN_DIR/checkpoints/<step>/replay/<shard> (--set pretrain.replay=DIR)");
  run_command_line(args, a, "pretrain.updates=500");
}

int pretrain_encoder_command(EncoderPretrainArgs& a) {
  install_signal_handlers();
  const EncoderPretrainResult r = pretrain_encoder(a);
  if (world_rank() == 0) {
    std::cout << "run " << r.run_dir.string() << ": " << r.counters.updates << " updates, "
              << format_count(static_cast<double>(r.counters.samples)) << " anchors; loss " << r.first_loss << " -> "
              << r.loss << ", accuracy " << r.accuracy;
    if (!r.encoder.empty()) std::cout << "; encoder " << r.encoder.string();
    std::cout << std::endl;
  }
  return 0;
}

}  // namespace mnemo::launch
