// Decoupled representation learning (ATC's "encoder pretraining"): an observation encoder trained
// on an offline dataset with a contrastive loss alone (learners/contrastive.h), no reward and no
// policy, then frozen or fine-tuned under RL (model.encoder_init, model.freeze_encoder).
// `mnemo pretrain-encoder` (launch/pretrain_encoder.h) runs it.
//
// Every update draws `loss.batch` anchors uniformly from the dataset's steps whose positive (the
// step `loss.delta` later, ATC) lies in the same episode, without repeats, from the learner's
// checkpointed generator; the encoder and the loss's own weights take an Adam step on the
// gradients averaged across ranks. At the end the chief writes <run_dir>/encoder.safetensors.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/array.h"
#include "core/comm/communicator.h"
#include "core/models/encoders.h"
#include "learners/contrastive.h"
#include "learners/runner.h"
#include "replay/datasets/dataset.h"

namespace mnemo {
class MetricsWriter;
}

namespace mnemo::learners {

// The `pretrain:` config section.
struct EncoderPretrainOptions {
  std::string dataset;
  std::string replay;
  ContrastiveOptions loss = default_loss();
  std::int64_t updates = 2000;
  double lr = 1e-3;
  double grad_clip = 10.0;
  std::int64_t log_every = 20;
  std::int64_t checkpoint_every = 500;
  std::int64_t keep_checkpoints = 3;
  std::string device = "cpu";
  template <class V>
  void visit(V& v) {
    v("dataset", dataset, "offline dataset of the env's observations: mnemo collect output, Minari or D4RL layout");
    v("replay", replay,
      "or a replay snapshot: a learner checkpoint's replay/<shard> directory (replay.checkpoint: true) of an RL run");
    v("loss", loss, "the contrastive loss: atc (default) or curl, its batch, delta, tau and augmentation");
    v("updates", updates, "gradient updates to train for");
    v("lr", lr, "Adam learning rate");
    v("grad_clip", grad_clip, "clip the global gradient norm to this");
    v("log_every", log_every, "write metrics every N updates");
    v("checkpoint_every", checkpoint_every, "write a checkpoint every N updates (0: only at the end)");
    v("keep_checkpoints", keep_checkpoints, "how many checkpoints to keep");
    v("device", device, "where the encoder trains: cpu, cuda or cuda:N");
  }
  // ConfigError naming pretrain.<key>.
  void validate() const;
  static ContrastiveOptions default_loss() {
    ContrastiveOptions o;
    o.type = "atc";
    o.batch = 256;
    return o;
  }
};

// The observations of every sequence in a replay snapshot directory (the table files a learner
// checkpoint's replay/<shard>/ holds) as a dataset: sequences back to back, an episode ending at
// every sequence's last step and before every step flagged `first`, so no anchor pairs steps of
// two sequences or two episodes. Error naming the directory when it holds no table, or items
// without the spec's observation fields.
replay::Dataset replay_observations(const std::filesystem::path& dir, const Spec& obs_spec);

// The anchors a dataset offers: dataset steps i whose step i + delta lies in the same episode.
// Error naming the dataset when its observations are not the env's (dtype and shape) or when no
// episode is longer than delta steps.
std::vector<std::int64_t> contrastive_anchors(const replay::Dataset& data, const Spec& obs_spec, std::int64_t delta,
                                              const std::string& name);

struct EncoderPretrainCounters {
  std::int64_t updates = 0;
  std::int64_t samples = 0;  // anchors trained on, over all ranks
};

struct EncoderPretrainContext {
  EncoderPretrainOptions options;
  nn::ModelOptions model;                  // the encoder's part: encoder, cnn_features, ...
  Spec obs_spec;                           // the env's observations
  std::shared_ptr<const replay::Dataset> data;
  std::string data_name;                   // where it came from (errors, the encoder's metadata)
  std::uint64_t seed = 1;
  Communicator* comm = nullptr;
  MetricsWriter* metrics = nullptr;        // chief only
  std::filesystem::path run_dir;           // checkpoints/ and encoder.safetensors (chief writes)
  std::string config_yaml;
  bool resume = false;
  bool progress = true;
  const std::atomic<bool>* interrupt = nullptr;
};

class EncoderPretrainer : private Runnable {
 public:
  explicit EncoderPretrainer(EncoderPretrainContext ctx);
  ~EncoderPretrainer();
  // Trains up to options.updates (or an interrupt); writes a final checkpoint and, when every
  // update was taken, encoder_path().
  void run();
  void save_checkpoint() override;
  const EncoderPretrainCounters& counters() const { return counters_; }
  nn::EncoderImpl& encoder() { return *encoder_; }
  double first_loss() const { return first_loss_; }
  double last_loss() const { return last_loss_; }          // mean of the last logged window
  double last_accuracy() const { return last_accuracy_; }  // likewise
  std::filesystem::path encoder_path() const { return ctx_.run_dir / "encoder.safetensors"; }

 private:
  void restore() override;
  GradientReducer& reducer() override { return *reducer_; }
  std::int64_t step() const override { return counters_.updates; }
  bool done() const override { return counters_.updates >= ctx_.options.updates; }
  bool advance() override;
  StepReport report(bool last, bool interrupted) override;
  void finish(bool interrupted) override;

  EncoderPretrainContext ctx_;
  torch::Device device_;
  torch::Tensor frames_;                 // the dataset's observations [N, ...] (CPU)
  std::vector<std::int64_t> anchors_;
  std::shared_ptr<torch::nn::Module> model_;  // "encoder" and "loss", checkpointed together
  std::shared_ptr<nn::EncoderImpl> encoder_;
  Contrastive loss_{nullptr};
  std::vector<torch::Tensor> trained_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  at::Generator gen_;
  RunCheckpoints checkpoints_;
  EncoderPretrainCounters counters_;
  double first_loss_ = std::nan(""), last_loss_ = std::nan(""), last_accuracy_ = std::nan("");
  double loss_sum_ = 0, accuracy_sum_ = 0;
  std::int64_t window_ = 0;
};

}  // namespace mnemo::learners
