// `mnemo pretrain-encoder`: trains an observation encoder with a contrastive loss (ATC or CURL;
// learners/encoder_pretrain.h) on an offline dataset of the env's observations or on a replay
// snapshot of an RL run, and writes <run_dir>/encoder.safetensors, the file an RL config starts
// its encoder from (model.encoder_init, optionally model.freeze_encoder). Runs in one process, or data-parallel on
// every rank under `mpirun -np N`. See docs/representations.md.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "launch/train.h"
#include "launch/train_config.h"
#include "learners/encoder_pretrain.h"

namespace mnemo::launch {

// A pretraining config: the env and model sections of the RL config that will use the encoder
// (only the model's encoder keys matter here) and the `pretrain:` section.
struct EncoderPretrainConfig {
  RunOptions run;
  config::Node env;
  nn::ModelOptions model;
  learners::EncoderPretrainOptions pretrain;
  EncoderPretrainConfig() { run.name = "encoder"; }
  template <class V>
  void visit(V& v) {
    v("run", run, "run directory, seed, threads, logging (transport is not used)");
    v("env", env, "the environment whose observations the encoder reads (as in the RL config)");
    v("model", model, "the policy model of the RL config; encoder, cnn_features, impala_channels and "
                      "encoder_hidden shape the encoder");
    v("pretrain", pretrain, "dataset, contrastive loss and optimisation");
  }
};

// Loads `path`, applies the overrides, makes pretrain.dataset absolute and validates every
// section (the env through the registry). Throws ConfigError.
EncoderPretrainConfig load_encoder_pretrain_config(const std::string& path, const std::vector<std::string>& overrides);
std::string resolved_yaml(const EncoderPretrainConfig& c);

struct EncoderPretrainArgs : RunArgs {
  std::string dataset;  // --dataset PATH (same as --set pretrain.dataset=PATH)
  std::string replay;   // --replay DIR (same as --set pretrain.replay=DIR)
};

struct EncoderPretrainResult {
  std::filesystem::path run_dir;
  std::filesystem::path encoder;       // encoder.safetensors (empty when interrupted)
  learners::EncoderPretrainCounters counters;
  double first_loss = 0, loss = 0, accuracy = 0;
};

// Reads and checks the dataset against the env before the run directory is created, then trains.
EncoderPretrainResult pretrain_encoder(const EncoderPretrainArgs& args);

void pretrain_encoder_command_line(CommandArgs& args, EncoderPretrainArgs& a);
int pretrain_encoder_command(EncoderPretrainArgs& a);

}  // namespace mnemo::launch
