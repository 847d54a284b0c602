// Sequence: the fixed-length unroll an actor cuts and a learner trains on, as named fields.
//
// A Sequence of T steps is a struct of arrays. It travels as one replay item whose fields are:
//   obs/<name>     [T, ...]  observation field (pixels stay uint8)
//   action         [T, ...]  action taken
//   reward         [T]       float32
//   prev_action    [T, ...]  with prev_inputs (a policy that reads them: model.prev_action or
//                            model.prev_reward): the previous-action input at each step
//                            (nn::PrevInputs: the action before, none at an episode start: -1 or zeros)
//   prev_reward    [T]       with prev_inputs: float32, the previous-reward input (0 at an episode start)
//   first          [T]       uint8, 1 where an episode starts (the state was reset)
//   terminated     [T]       uint8, the step ended the episode in a terminal state
//   truncated      [T]       uint8, the step ended the episode at a time limit
//   logprob        [T]       float32, behaviour policy log-probability of the action
//   value          [T]       float32, behaviour value of the observation
//   final_value    [T]       float32, value of the last observation of a truncated episode
//   bootstrap_value []       float32, value of the observation after the last step
//   bootstrap_obs/<name> [...] that observation (off-policy learners bootstrap from their own value of it)
//   bootstrap_first []       uint8, whether it starts an episode
//   bootstrap_prev_action [...], bootstrap_prev_reward []  with prev_inputs: its prev inputs
//   episode_return [T]       float32, return of the episode that ended at this step
//   episode_length [T]       int64, length of the episode that ended at this step
//   version        []        int64, policy version that acted
//   plan           []        int64, the version the actors' plan began at (FetchedParams::plan): a
//                            sync-mode learner drops sequences of a plan a newer one superseded
//   info/<name>    [T]       float32, the env's named scalar infos of each step (e.g. success)
//   state/<i>      [...]     recurrent state at the first step (none for memoryless policies)
#pragma once

#include <string>

#include "core/array.h"

namespace mnemo::seq {

inline const std::string kObsPrefix = "obs/";
inline const std::string kStatePrefix = "state/";
inline const std::string kInfoPrefix = "info/";
inline const std::string kBootstrapObsPrefix = "bootstrap_obs/";

// The replay signature of a sequence of `T` steps for the given observation and action specs
// and the policy's per-env recurrent state (one field per state tensor, in order, without the
// batch dimension; names are ignored and become state/<i>), with the prev_action/prev_reward
// fields when `prev_inputs`.
Spec sequence_spec(const Spec& obs_spec, const ActionSpace& action_space, std::int64_t T,
                   const Spec& state_spec = {}, const std::vector<std::string>& info_names = {},
                   bool prev_inputs = false);

}  // namespace mnemo::seq
