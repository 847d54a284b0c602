// Online algorithms as pieces (rlpyt's optimize_agent): an algorithm owns its update, every epoch
// and minibatch over one batch of sequences, and nothing else. The runner loop (learners/trainer.h)
// samples the batch, anneals the learning rate, agrees counters across ranks, publishes
// parameters, logs and checkpoints, whatever the algorithm.
//
// A new online algorithm is one file with a class deriving from OnlineAlgorithm and a factory,
// plus one line in the table of learners/algorithm.cc that gives it its `learner.algo` name.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/models/models.h"
#include "learners/ppo.h"

namespace mnemo::learners {

struct LearnerOptions;
class Augmenter;
class ContrastiveImpl;

// What an algorithm trains: the policy, its optimizer, the gradient plane and the learner's
// checkpointed generator (minibatch orders), owned by the runner and alive while it runs.
struct OnlineLearner {
  nn::PolicyImpl& policy;
  torch::optim::Optimizer& optimizer;
  GradientReducer& reducer;
  Communicator& comm;  // the reducer's: for statistics over all ranks' minibatches
  at::Generator& generator;
  ActionSpace space;
  torch::Device device;
  const Augmenter* augment = nullptr;  // learner.augment: applied to each batch before its update
  ContrastiveImpl* aux = nullptr;      // learner.aux: a contrastive loss added at every gradient step
  bool memoryless() const { return policy.initial_state(1).empty(); }
};

class OnlineAlgorithm {
 public:
  virtual ~OnlineAlgorithm() = default;
  // Trains on `batch` (on the learner's device; every rank calls it once per update with its own
  // batch and joins the same number of gradient all-reduces) and returns the statistics to log,
  // averaged over its minibatches.
  virtual std::map<std::string, double> update(const SequenceBatch& batch) = 0;
};

// The epoch x minibatch loop that PPO, APPO and IMPALA share. With learner.augment the batch's
// observations are augmented first (one draw per sequence or frame), and the targets and losses
// all see the augmented ones. At the start of every epoch the
// algorithm computes its targets over the trained steps (those after learner.burn_in) of the
// whole batch; then it trains on learner.ppo.minibatches minibatches, each a loss on a gradient
// step: whole sequences for recurrent policies, shuffled transitions for memoryless ones, in an
// order drawn from the learner's generator. With learner.aux every gradient step adds the
// contrastive loss of anchors drawn from the whole (unaugmented) batch, and the target encoder
// moves after the step. With learner.ppo.normalize_advantages the advantages
// of a minibatch are normalised by their mean and std over all ranks' minibatches, so that L ranks
// with B sequences each take the update 1 rank takes with L x B (with one minibatch per epoch).
class MinibatchAlgorithm : public OnlineAlgorithm {
 public:
  MinibatchAlgorithm(const LearnerOptions& options, const OnlineLearner& learner);
  std::map<std::string, double> update(const SequenceBatch& batch) final;

 protected:
  struct Targets {
    torch::Tensor advantages;     // [T - burn_in, B]
    torch::Tensor returns;        // [T - burn_in, B] value targets
    torch::Tensor pg_advantages;  // [T - burn_in, B] (undefined unless the loss reads them)
    std::map<std::string, double> stats;  // logged, averaged over the epochs
  };
  // Of one minibatch: the trained steps' policy output and the batch's fields at those steps.
  struct Minibatch {
    nn::PolicyOutput out;
    torch::Tensor actions, old_logprob, old_value;
    Targets targets;
  };
  virtual Targets targets(const SequenceBatch& batch, std::int64_t epoch) = 0;
  virtual PPOLoss loss(const Minibatch& mb) = 0;

  PPOOptions o_;  // normalize_advantages is always false here: the loop normalises, not the loss
  OnlineLearner learner_;
  std::int64_t burn_in_;  // 0 for memoryless policies
  bool memoryless_;

 private:
  torch::Tensor normalized_across_ranks(const torch::Tensor& advantages) const;
  bool normalize_advantages_;
};

// The algorithm `options.algo` names; ConfigError for a name that is no online algorithm.
std::unique_ptr<OnlineAlgorithm> make_online_algorithm(const LearnerOptions& options, const OnlineLearner& learner);
// The names make_online_algorithm knows, in the table's order.
std::vector<std::string> online_algorithm_names();
bool is_online_algorithm(const std::string& name);

// Pieces algorithms share.

// `b` with `per_step` applied to every time-major field ([T, B, ...], and the [1, B, ...] next_*)
// and `per_sequence` to every per-sequence one ([B, ...]: bootstrap, version, state0); undefined
// fields stay undefined.
SequenceBatch map_fields(const SequenceBatch& b, const std::function<torch::Tensor(const torch::Tensor&)>& per_step,
                         const std::function<torch::Tensor(const torch::Tensor&)>& per_sequence);
// The sequences of `b` at `idx` (int64 [n], on the batch's device) as a batch of n.
SequenceBatch select_sequences(const SequenceBatch& b, const torch::Tensor& idx);
// The recurrent state after the first `burn_in` steps of `b`, unrolled without gradients from its
// stored state (the state0 itself when burn_in is 0).
nn::State burn_in_state(nn::PolicyImpl& policy, const SequenceBatch& b, std::int64_t burn_in);
// Steps [from, T) of a time-major tensor (undefined stays undefined).
torch::Tensor steps_from(const torch::Tensor& t, std::int64_t from);
// What an online learner's optimizer steps and its ranks average: the policy's parameters but a
// frozen encoder's (model.freeze_encoder), and the auxiliary loss's own weights (`aux` may be null).
std::vector<torch::Tensor> trained_parameters(nn::PolicyImpl& policy, ContrastiveImpl* aux);
// Zeroes the gradients, backpropagates `loss`, averages gradients across ranks, clips the global
// norm of the trained parameters' gradients (the policy's and the auxiliary loss's) and steps the
// optimizer; returns the norm before clipping.
double apply_gradients(const OnlineLearner& learner, const torch::Tensor& loss, double max_grad_norm);

}  // namespace mnemo::learners
