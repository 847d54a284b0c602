// Tests of the memory policies (lstm, gtrxl, agalite, galite), the encoders and the Policy
// contract they share with the memoryless mlp: unroll equals acting step by step, `first` resets
// the state, no memory crosses an episode start, gradients reach every parameter, states are
// batch-first with the documented sizes and survive the flat Array representation, and bad
// shapes give errors that name them. Sizes stay small so that the suite runs in seconds.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/models/agalite.h"
#include "core/models/encoders.h"
#include "core/models/gtrxl.h"
#include "core/models/models.h"
#include "core/models/tensor.h"

namespace mnemo::nn {
namespace {

constexpr int64_t kObsDim = 5;

ModelOptions small_options(const std::string& type) {
  ModelOptions o;
  o.type = type;
  o.hidden = {16};
  o.layers = 2;
  o.d_model = 16;
  o.heads = 2;
  o.eta = 2;
  o.r = 3;  // ω = −π, 0, π: two distinct oscillators plus the constant one
  o.memory = 4;
  o.encoder_hidden = {16};
  return o;
}

std::shared_ptr<PolicyImpl> make_small(const std::string& type, const ActionSpace& space = ActionSpace::discrete(3)) {
  torch::manual_seed(7);
  return make_policy(small_options(type), /*obs_dim=*/kObsDim, space);
}

// Episode starts at different times per env; env 2 starts one at t = 0 to drop the stored state.
torch::Tensor some_firsts(int64_t T, int64_t B) {
  auto first = torch::zeros({T, B}, torch::kBool);
  if (B > 0 && T > 3) first[3][0] = true;
  if (B > 1 && T > 7) first[7][1] = true;
  if (B > 2) first[0][2] = true;
  return first;
}

State detached(const State& s) {
  State out;
  for (const auto& t : s) out.push_back(t.detach().clone());
  return out;
}

// A state that has seen a few steps of an episode, so that tests start from a non-trivial memory.
State warm_state(PolicyImpl& p, int64_t B, int64_t steps = 3) {
  torch::NoGradGuard no_grad;
  auto first = torch::zeros({steps, B}, torch::kBool);
  first[0].fill_(true);
  return detached(p.unroll(torch::randn({steps, B, kObsDim}), first, p.initial_state(B)).state);
}

// What an actor does: before step t reset the rows where first[t] is set, then step.
PolicyOutput step_through(PolicyImpl& p, const torch::Tensor& obs, const torch::Tensor& first, State state) {
  std::vector<torch::Tensor> params, values;
  const int64_t B = obs.size(1);
  for (int64_t t = 0; t < obs.size(0); ++t) {
    if (!state.empty()) state = reset_rows(state, p.initial_state(B), first[t]);
    auto out = p.step(obs[t], state);
    params.push_back(out.params);
    values.push_back(out.value);
    state = out.state;
  }
  return {torch::stack(params), torch::stack(values), state};
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(torch::allclose(a, b, /*rtol=*/1e-4, /*atol=*/1e-5))
      << what << ": max abs difference " << (a - b).abs().max().item<double>();
}

void expect_states_close(const State& a, const State& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) expect_close(a[i], b[i], "state[" + std::to_string(i) + "]");
}

// Runs fn and checks that it throws mnemo::Error whose message contains every part.
template <class F>
void expect_error_naming(F&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no mnemo::Error thrown";
  } catch (const ConfigError& e) {
    ADD_FAILURE() << "a ConfigError where a shape error was expected: " << e.what();
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
}

// ---------------------------------------------------------------------------------------------
// The Policy contract, for every model type.

class PolicyContractTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PolicyContractTest, UnrollMatchesStepByStepWithResets) {
  auto p = make_small(GetParam());
  const int64_t T = 12, B = 3;
  auto state0 = warm_state(*p, B);
  auto obs = torch::randn({T, B, kObsDim});
  auto first = some_firsts(T, B);
  torch::NoGradGuard no_grad;
  auto un = p->unroll(obs, first, state0);
  auto st = step_through(*p, obs, first, state0);
  expect_close(un.params, st.params, "params");
  expect_close(un.value, st.value, "value");
  EXPECT_EQ(un.params.sizes(), (std::vector<int64_t>{T, B, 3}));
  EXPECT_EQ(un.value.sizes(), (std::vector<int64_t>{T, B}));
  expect_states_close(un.state, st.state);
}

TEST_P(PolicyContractTest, GradientsReachEveryParameter) {
  auto p = make_small(GetParam(), ActionSpace::box({-1, -1}, {1, 1}));
  const int64_t T = 6, B = 3;
  auto state0 = warm_state(*p, B);
  auto out = p->unroll(torch::randn({T, B, kObsDim}), some_firsts(T, B), state0);
  // Random weights: a plain sum would cancel through layer norms.
  auto loss = (out.params * torch::randn_like(out.params)).sum() + (out.value * torch::randn_like(out.value)).sum() +
              p->log_std().sum();
  loss.backward();
  for (const auto& kv : p->named_parameters()) {
    ASSERT_TRUE(kv.value().grad().defined()) << kv.key() << " got no gradient";
    EXPECT_GT(kv.value().grad().abs().sum().item<double>(), 0.0) << kv.key() << " has an all-zero gradient";
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, PolicyContractTest, ::testing::Values("mlp", "lstm", "gtrxl", "agalite", "galite"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------------------------
// Previous action and reward inputs (model.prev_action, model.prev_reward), for every model type
// and for discrete and continuous actions.

struct PrevCase {
  std::string type;
  bool box;
};

class PrevInputsTest : public ::testing::TestWithParam<PrevCase> {
 protected:
  ActionSpace space() const { return GetParam().box ? ActionSpace::box({-1, -1}, {1, 1}) : ActionSpace::discrete(3); }
  std::shared_ptr<PolicyImpl> make(bool prev_action = true, bool prev_reward = true) const {
    auto o = small_options(GetParam().type);
    o.prev_action = prev_action;
    o.prev_reward = prev_reward;
    torch::manual_seed(7);
    return make_policy(o, kObsDim, space());
  }
  // Random prev inputs for [T, B] steps (actions in range, some "none").
  PrevInputs random_prev(int64_t T, int64_t B) const {
    PrevInputs p;
    p.action = GetParam().box ? torch::randn({T, B, 2}) : torch::randint(-1, 3, {T, B}, torch::kLong);
    p.reward = torch::randn({T, B});
    return p;
  }
  // warm_state() with prev inputs.
  State warm(PolicyImpl& p, int64_t B) const {
    torch::NoGradGuard no_grad;
    auto first = torch::zeros({3, B}, torch::kBool);
    first[0].fill_(true);
    return detached(p.unroll(torch::randn({3, B, kObsDim}), random_prev(3, B), first, p.initial_state(B)).state);
  }
};

TEST_P(PrevInputsTest, UnrollMatchesStepByStepWithResets) {
  auto p = make();
  const int64_t T = 12, B = 3;
  auto state0 = warm(*p, B);
  auto obs = torch::randn({T, B, kObsDim});
  auto first = some_firsts(T, B);
  auto prev = random_prev(T, B);
  torch::NoGradGuard no_grad;
  auto un = p->unroll(obs, prev, first, state0);
  // What an actor does: reset the state and pass "none" where an episode starts.
  std::vector<torch::Tensor> params, values;
  State state = state0;
  for (int64_t t = 0; t < T; ++t) {
    if (!state.empty()) state = reset_rows(state, p->initial_state(B), first[t]);
    PrevInputs now = next_prev(space(), prev.action[t], prev.reward[t], first[t]);
    auto out = p->step(obs[t], now, state);
    params.push_back(out.params);
    values.push_back(out.value);
    state = out.state;
  }
  expect_close(un.params, torch::stack(params), "params");
  expect_close(un.value, torch::stack(values), "value");
  expect_states_close(un.state, state);
}

TEST_P(PrevInputsTest, PrevActionAndRewardChangeTheOutputsOnlyWhenOn) {
  const int64_t T = 5, B = 2;
  auto obs = torch::randn({T, B, kObsDim});
  auto first = torch::zeros({T, B}, torch::kBool);
  auto prev = random_prev(T, B);
  PrevInputs other_action{prev.action.clone(), prev.reward}, other_reward{prev.action, prev.reward.clone()};
  if (GetParam().box) other_action.action[2][0] += 0.5;
  else other_action.action[2][0] = (other_action.action[2][0].item<int64_t>() + 2) % 3;
  other_reward.reward[2][0] += 1.0;
  torch::NoGradGuard no_grad;
  auto differ = [&](PolicyImpl& p, const PrevInputs& changed) {
    auto a = p.unroll(obs, prev, first, p.initial_state(B)).params;
    auto b = p.unroll(obs, changed, first, p.initial_state(B)).params;
    EXPECT_TRUE(torch::equal(a.narrow(0, 0, 2), b.narrow(0, 0, 2))) << "a prev input changed the past";
    EXPECT_TRUE(torch::equal(a.select(1, 1), b.select(1, 1))) << "a prev input changed another env";
    return !torch::allclose(a.select(0, 2), b.select(0, 2), 0, 1e-7);
  };
  auto both = make(true, true);
  EXPECT_TRUE(differ(*both, other_action));
  EXPECT_TRUE(differ(*both, other_reward));
  auto action_only = make(true, false);
  EXPECT_TRUE(differ(*action_only, other_action));
  EXPECT_FALSE(differ(*action_only, other_reward));
  auto neither = make(false, false);
  EXPECT_TRUE(both->reads_prev());
  EXPECT_TRUE(action_only->reads_prev());
  EXPECT_FALSE(neither->reads_prev());
  EXPECT_FALSE(differ(*neither, other_action));
  EXPECT_FALSE(differ(*neither, other_reward));
  // Neither on: the two-argument forms without prev inputs give the same outputs.
  expect_close(neither->unroll(obs, first, neither->initial_state(B)).params,
               neither->unroll(obs, prev, first, neither->initial_state(B)).params, "params without prev inputs");
}

TEST_P(PrevInputsTest, PrevInputsAreIgnoredAtEpisodeStarts) {
  auto p = make();
  const int64_t T = 6, B = 3;
  auto obs = torch::randn({T, B, kObsDim});
  auto first = some_firsts(T, B);
  auto prev = random_prev(T, B);
  PrevInputs changed{prev.action.clone(), prev.reward.clone()};
  changed.reward[3][0] += 5.0;  // env 0 starts an episode at t = 3
  changed.action[3][0] = GetParam().box ? torch::full({2}, 0.7) : torch::tensor(int64_t{2});
  torch::NoGradGuard no_grad;
  auto state0 = warm(*p, B);
  expect_close(p->unroll(obs, prev, first, state0).params, p->unroll(obs, changed, first, state0).params,
               "params after changing prev inputs at an episode start");
}

TEST_P(PrevInputsTest, MissingOrMisshapenPrevInputsNameTheInput) {
  auto p = make();
  const int64_t B = 3;
  auto state = p->initial_state(B);
  auto obs = torch::zeros({B, kObsDim});
  expect_error_naming([&] { p->step(obs, state); }, {"prev_action", "(undefined)", "model.prev_action"});
  PrevInputs good = next_prev(space(), none_prev(space(), B).action, torch::zeros({B}), torch::zeros({B}));
  expect_error_naming([&] { p->step(obs, {good.action, {}}, state); }, {"prev_reward", "(undefined)"});
  expect_error_naming([&] { p->step(obs, {good.action.narrow(0, 0, 2), good.reward}, state); },
                      {"prev_action", "[2"});
  expect_error_naming([&] { p->unroll(torch::zeros({4, B, kObsDim}), good, torch::zeros({4, B}, torch::kBool), state); },
                      {"unroll", "prev_action", "expected [4, 3"});
  EXPECT_NO_THROW(p->step(obs, good, state));
}

INSTANTIATE_TEST_SUITE_P(
    AllModels, PrevInputsTest,
    ::testing::Values(PrevCase{"mlp", false}, PrevCase{"mlp", true}, PrevCase{"lstm", false}, PrevCase{"lstm", true},
                      PrevCase{"gtrxl", false}, PrevCase{"gtrxl", true}, PrevCase{"agalite", false},
                      PrevCase{"agalite", true}, PrevCase{"galite", false}, PrevCase{"galite", true}),
    [](const auto& info) { return info.param.type + (info.param.box ? "_box" : "_discrete"); });

TEST(PrevInputsHelpersTest, NoneAtEpisodeStartsElseTheStepsActionAndReward) {
  auto none = none_prev(ActionSpace::discrete(4), 3);
  EXPECT_TRUE(torch::equal(none.action, torch::full({3}, -1, torch::kLong)));
  EXPECT_TRUE(torch::equal(none.reward, torch::zeros({3})));
  auto box_none = none_prev(ActionSpace::box({-1, -1}, {1, 1}), 3);
  EXPECT_TRUE(torch::equal(box_none.action, torch::zeros({3, 2})));
  auto first = torch::tensor({0, 1, 0}, torch::kUInt8);
  auto next = next_prev(ActionSpace::discrete(4), torch::tensor({2, 3, 1}, torch::kLong), torch::tensor({0.5f, 1.f, -1.f}),
                        first);
  EXPECT_TRUE(torch::equal(next.action, torch::tensor({2, -1, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(next.reward, torch::tensor({0.5f, 0.f, -1.f})));
  auto box_next = next_prev(ActionSpace::box({-1, -1}, {1, 1}), torch::ones({3, 2}), torch::ones({3}), first);
  EXPECT_TRUE(torch::equal(box_next.action, torch::tensor({1.f, 1.f, 0.f, 0.f, 1.f, 1.f}).view({3, 2})));
}

TEST(PrevInputsHelpersTest, PixelPoliciesReadPrevInputsToo) {
  auto o = small_options("mlp");
  o.encoder = "impala";
  o.impala_channels = {4};
  o.cnn_features = 8;
  o.prev_action = o.prev_reward = true;
  torch::manual_seed(8);
  Spec spec{{FieldSpec{"pixels", DType::kUInt8, {8, 8, 3}}}};
  auto p = make_policy(o, spec, ActionSpace::discrete(4));
  auto obs = torch::randint(0, 256, {2, 8 * 8 * 3}).to(torch::kFloat32);
  torch::NoGradGuard no_grad;
  auto a = p->step(obs, {torch::tensor({0, 1}, torch::kLong), torch::zeros({2})}, {});
  auto b = p->step(obs, {torch::tensor({3, 1}, torch::kLong), torch::zeros({2})}, {});
  EXPECT_FALSE(torch::equal(a.params[0], b.params[0]));
  EXPECT_TRUE(torch::equal(a.params[1], b.params[1]));
}

// ---------------------------------------------------------------------------------------------
// Memory models only.

class MemoryPolicyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MemoryPolicyTest, FirstResetsStateMidSequence) {
  auto p = make_small(GetParam());
  const int64_t T = 10, B = 2, t0 = 4;
  auto obs = torch::randn({T, B, kObsDim});
  auto first = torch::zeros({T, B}, torch::kBool);
  first[t0].fill_(true);
  torch::NoGradGuard no_grad;
  auto whole = p->unroll(obs, first, warm_state(*p, B));
  auto fresh = p->unroll(obs.narrow(0, t0, T - t0), first.narrow(0, t0, T - t0), p->initial_state(B));
  expect_close(whole.params.narrow(0, t0, T - t0), fresh.params, "params after the reset");
  expect_close(whole.value.narrow(0, t0, T - t0), fresh.value, "values after the reset");
  expect_states_close(whole.state, fresh.state);
}

TEST_P(MemoryPolicyTest, EarlierEpisodeNeverLeaksPastAnEpisodeStart) {
  // The start sits within GTrXL's memory window (M = 4), where a missing mask would show.
  auto p = make_small(GetParam());
  const int64_t T = 9, B = 2, t0 = 2;
  auto obs = torch::randn({T, B, kObsDim});
  auto first = torch::zeros({T, B}, torch::kBool);
  first[t0].fill_(true);
  auto other = obs.clone();
  other.narrow(0, 0, t0).normal_(/*mean=*/3.0, /*std=*/2.0);
  torch::NoGradGuard no_grad;
  auto a = p->unroll(obs, first, warm_state(*p, B));
  auto b = p->unroll(other, first, warm_state(*p, B, /*steps=*/6));
  EXPECT_FALSE(torch::allclose(a.params.narrow(0, 0, t0), b.params.narrow(0, 0, t0)));
  expect_close(a.params.narrow(0, t0, T - t0), b.params.narrow(0, t0, T - t0), "params after the start");
  expect_close(a.value.narrow(0, t0, T - t0), b.value.narrow(0, t0, T - t0), "values after the start");
  expect_states_close(a.state, b.state);
  // Acting step by step (the actor resets rows) agrees.
  auto s = step_through(*p, other, first, warm_state(*p, B, /*steps=*/5));
  expect_close(s.params.narrow(0, t0, T - t0), a.params.narrow(0, t0, T - t0), "stepped params after the start");
}

TEST_P(MemoryPolicyTest, StateRoundTripsThroughArraysAndContinuesIdentically) {
  auto p = make_small(GetParam());
  const int64_t T = 10, B = 3, half = 6;
  auto obs = torch::randn({T, B, kObsDim});
  auto first = some_firsts(T, B);
  auto state0 = warm_state(*p, B);
  torch::NoGradGuard no_grad;
  auto head = p->unroll(obs.narrow(0, 0, half), first.narrow(0, 0, half), state0);
  State wired;
  for (const auto& t : head.state) {
    Array a = to_array(t).clone();  // its own memory, as after the wire
    EXPECT_EQ(a.shape()[0], B);
    wired.push_back(to_tensor(a));
  }
  auto tail_ref = p->unroll(obs.narrow(0, half, T - half), first.narrow(0, half, T - half), head.state);
  auto tail = p->unroll(obs.narrow(0, half, T - half), first.narrow(0, half, T - half), wired);
  EXPECT_TRUE(torch::equal(tail.params, tail_ref.params));
  EXPECT_TRUE(torch::equal(tail.value, tail_ref.value));
  // And continuing equals one unroll over the whole sequence.
  auto whole = p->unroll(obs, first, state0);
  expect_close(whole.params.narrow(0, half, T - half), tail.params, "continued params");
  expect_states_close(whole.state, tail.state);
}

TEST_P(MemoryPolicyTest, StateRowsSliceLikeTheLearnerDoes) {
  // The learner gathers sequences with index_select(0, idx) on every state tensor; the rows of a
  // batched unroll must equal unrolls of the selected envs alone.
  auto p = make_small(GetParam());
  const int64_t T = 8, B = 4;
  auto obs = torch::randn({T, B, kObsDim});
  auto first = some_firsts(T, B);
  auto state0 = warm_state(*p, B);
  torch::NoGradGuard no_grad;
  auto all = p->unroll(obs, first, state0);
  auto idx = torch::tensor({2, 0}, torch::kLong);
  State sub;
  for (const auto& s : state0) sub.push_back(s.index_select(0, idx));
  auto part = p->unroll(obs.index_select(1, idx), first.index_select(1, idx), sub);
  expect_close(all.params.index_select(1, idx), part.params, "selected params");
}

TEST_P(MemoryPolicyTest, ShapeMismatchesNameTheShapes) {
  auto p = make_small(GetParam());
  const std::string name = GetParam();
  auto state = p->initial_state(3);
  expect_error_naming([&] { p->step(torch::zeros({3, kObsDim + 1}), state); },
                      {name + ".step", "[3, 6]", "expected [B, 5]"});
  expect_error_naming([&] { p->unroll(torch::zeros({4, 3, 2}), torch::zeros({4, 3}, torch::kBool), state); },
                      {name + ".unroll", "[4, 3, 2]", "expected [T, B, 5]"});
  expect_error_naming([&] { p->unroll(torch::zeros({4, 3, kObsDim}), torch::zeros({4, 2}, torch::kBool), state); },
                      {"first has shape [4, 2]", "expected [4, 3]"});
  State shorter(state.begin(), state.end() - 1);
  expect_error_naming([&] { p->step(torch::zeros({3, kObsDim}), shorter); },
                      {"state has " + std::to_string(shorter.size()) + " tensors",
                       "expected " + std::to_string(state.size())});
  auto wrong_batch = p->initial_state(2);
  auto want = state[0].sizes().vec();
  expect_error_naming([&] { p->step(torch::zeros({3, kObsDim}), wrong_batch); },
                      {"state[0] has shape " + sizes_str(wrong_batch[0].sizes()), "expected " + sizes_str(want),
                       "batch of 3"});
  auto bad = state;
  bad.back() = torch::zeros({3, 99});
  expect_error_naming([&] { p->step(torch::zeros({3, kObsDim}), bad); }, {"[3, 99]"});
}

INSTANTIATE_TEST_SUITE_P(MemoryModels, MemoryPolicyTest, ::testing::Values("lstm", "gtrxl", "agalite", "galite"),
                         [](const auto& info) { return info.param; });

TEST(StateLayoutTest, StatesAreBatchFirstWithDocumentedSizes) {
  // small_options: L = 2, d_model = 16, H = 2, d_head = 8, eta = 2, r = 3, M = 4.
  const int64_t B = 3, L = 2, d = 16, H = 2, D = 8, eta = 2, r = 3, M = 4;
  using Sizes = std::vector<std::vector<int64_t>>;
  const std::vector<std::pair<std::string, Sizes>> expected = {
      {"lstm", {{B, L, d}, {B, L, d}}},
      {"gtrxl", {{B, L, M, d}, {B, M}}},
      {"agalite", {{B, L, r, H, eta * D}, {B, L, r, H, D}, {B, L, H, eta * D}, {B, 1}}},
      {"galite", {{B, L, H, D, eta * D}, {B, L, H, eta * D}}},
  };
  for (const auto& [type, sizes] : expected) {
    auto p = make_small(type);
    auto check = [&](const State& s, const char* when) {
      ASSERT_EQ(s.size(), sizes.size()) << type << " " << when;
      for (std::size_t i = 0; i < s.size(); ++i) {
        EXPECT_EQ(s[i].sizes().vec(), sizes[i]) << type << " " << when << " state[" << i << "]";
        EXPECT_EQ(s[i].scalar_type(), torch::kFloat32) << type;
      }
    };
    check(p->initial_state(B), "initially");
    torch::NoGradGuard no_grad;
    // Constant size: the state after 16 steps is no larger than after 1.
    check(p->unroll(torch::randn({16, B, kObsDim}), torch::zeros({16, B}, torch::kBool), p->initial_state(B)).state,
          "after 16 steps");
    check(p->step(torch::randn({B, kObsDim}), p->initial_state(B)).state, "after a step");
  }
  EXPECT_TRUE(make_small("mlp")->initial_state(B).empty());
}

TEST(StateLayoutTest, GTrXLValidSlotsCountStepsSinceTheEpisodeStart) {
  auto p = make_small("gtrxl");  // M = 4
  torch::NoGradGuard no_grad;
  auto first = torch::zeros({6, 2}, torch::kBool);
  first[4][0] = true;  // env 0: 2 steps of the new episode at the end; env 1: 6 steps
  auto out = p->unroll(torch::randn({6, 2, kObsDim}), first, p->initial_state(2));
  EXPECT_TRUE(torch::equal(out.state[1], torch::tensor({{0.f, 0.f, 1.f, 1.f}, {1.f, 1.f, 1.f, 1.f}})));
  // Slots of the ended episode are zeroed, so equal histories give equal states.
  EXPECT_EQ(out.state[0][0].narrow(1, 0, 2).abs().sum().item<double>(), 0.0);
  auto one = p->step(torch::randn({1, kObsDim}), p->initial_state(1));
  EXPECT_TRUE(torch::equal(one.state[1], torch::tensor({{0.f, 0.f, 0.f, 1.f}})));
}

TEST(StateLayoutTest, AGaLiTeTickCountsStepsSinceTheEpisodeStartModuloThePeriod) {
  auto p = make_small("agalite");  // r = 3: ω = −π, 0, π, period 4
  torch::NoGradGuard no_grad;
  auto first = torch::zeros({7, 2}, torch::kBool);
  first[5][1] = true;
  auto out = p->unroll(torch::randn({7, 2, kObsDim}), first, p->initial_state(2));
  // Starts at 1, advances before each step: env 0 made 7 steps (1 + 7 = 8 ≡ 0), env 1 made 2.
  EXPECT_TRUE(torch::equal(out.state[3], torch::tensor({{0.f}, {3.f}})));
}

// ---------------------------------------------------------------------------------------------
// The attention equations against direct evaluations of the published formulas.

torch::Tensor param(torch::nn::Module& m, const std::string& name) { return m.named_parameters()[name].detach(); }

// (A)GaLiTe from agalite.h's equations, as explicit sums over past steps in float64.
TEST(GatedLinearAttentionTest, MatchesTheClosedFormSumsOfThePaper) {
  const int64_t T = 6, d = 8, H = 2, D = 3, eta = 2;
  for (int64_t r : {0, 1, 3}) {
    torch::manual_seed(3);
    GatedLinearAttention attn(GatedLinearAttentionOptions(d, H, D, eta).r(r));
    auto x = torch::randn({T, 1, d});
    auto omega = torch::linspace(-M_PI, M_PI, std::max<int64_t>(r, 1));
    auto ticks = torch::arange(2, T + 2, torch::kFloat32);  // the tick starts at 1, advances before use
    auto osc = torch::cos(ticks.view({T, 1, 1}) * omega.view({1, 1, -1}));
    std::vector<torch::Tensor> state;
    if (r == 0) state = {torch::zeros({1, H, D, eta * D}), torch::zeros({1, H, eta * D})};
    else state = {torch::zeros({1, r, H, eta * D}), torch::zeros({1, r, H, D}), torch::zeros({1, H, eta * D})};
    torch::NoGradGuard no_grad;
    auto got = attn->forward(x, torch::ones({T, 1}), osc, state).first.squeeze(1).to(torch::kFloat64);

    auto X = x.squeeze(1).to(torch::kFloat64);
    auto lin = [&](const std::string& n) {
      return torch::matmul(X, param(*attn, n + ".weight").to(torch::kFloat64).t()) +
             param(*attn, n + ".bias").to(torch::kFloat64);
    };
    auto proj = lin("kqvbg").view({T, H, 5, D});  // k, q, v, β, γ
    auto pp = lin("p").view({T, H, 3, eta});      // p1, p2, p3
    auto outer = [&](const torch::Tensor& a, const torch::Tensor& p) {
      return torch::einsum("thn,thd->thnd", {p, a}).reshape({T, H, eta * D});
    };
    auto k = outer(torch::relu(proj.select(2, 0)), torch::relu(pp.select(2, 0)));
    auto q = outer(torch::relu(proj.select(2, 1)), torch::relu(pp.select(2, 1)));
    auto v = proj.select(2, 2);
    auto beta = torch::sigmoid(proj.select(2, 3));
    auto gamma = outer(torch::sigmoid(proj.select(2, 4)), torch::sigmoid(pp.select(2, 2)));
    auto osc64 = osc.squeeze(1).to(torch::kFloat64);  // [T, r]
    std::vector<torch::Tensor> rows;
    for (int64_t t = 0; t < T; ++t) {
      // Decay products Π_{j=i+1..t} (1 − ·) for each i <= t.
      std::vector<torch::Tensor> dv(t + 1), dk(t + 1);
      for (int64_t i = 0; i <= t; ++i) {
        dv[i] = torch::ones({H, D}, torch::kFloat64);
        dk[i] = torch::ones({H, eta * D}, torch::kFloat64);
        for (int64_t j = i + 1; j <= t; ++j) {
          dv[i] = dv[i] * (1 - beta[j]);
          dk[i] = dk[i] * (1 - gamma[j]);
        }
      }
      auto s = torch::zeros({H, eta * D}, torch::kFloat64);
      for (int64_t i = 0; i <= t; ++i) s = s + dk[i] * gamma[i] * k[i];
      auto den = (s * q[t]).sum(-1, true);  // [H, 1]
      auto num = torch::zeros({H, D}, torch::kFloat64);
      if (r == 0) {
        // C_t q_t = Σ_i (decayed β_i v_i) ((decayed γ_i k_i)ᵀ q_t).
        for (int64_t i = 0; i <= t; ++i)
          num = num + dv[i] * beta[i] * v[i] * (dk[i] * gamma[i] * k[i] * q[t]).sum(-1, true);
        rows.push_back(num / (den + 1e-5));
      } else {
        for (int64_t j = 0; j < r; ++j) {
          auto vt = torch::zeros({H, D}, torch::kFloat64);
          auto kt = torch::zeros({H, eta * D}, torch::kFloat64);
          for (int64_t i = 0; i <= t; ++i) {
            vt = vt + osc64[i][j] * dv[i] * beta[i] * v[i];
            kt = kt + osc64[i][j] * dk[i] * gamma[i] * k[i];
          }
          num = num + vt * (kt * q[t]).sum(-1, true);
        }
        rows.push_back(num / (2.0 * r * den + 1e-5));
      }
    }
    auto a = torch::stack(rows).reshape({T, H * D});
    auto want = torch::matmul(a, param(*attn, "out.weight").to(torch::kFloat64).t()) +
                param(*attn, "out.bias").to(torch::kFloat64);
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-5))
        << "r = " << r << ": max abs difference " << (got - want).abs().max().item<double>();
  }
}

// Transformer-XL scores A_ij = (q_i + u)ᵀ k_j + (q_i + v)ᵀ W_R R_{i−j}, evaluated pair by pair.
TEST(RelativeAttentionTest, MatchesTransformerXLScoresPairByPair) {
  torch::manual_seed(4);
  const int64_t B = 2, M = 3, T = 2, K = M + T, d = 8, H = 2, D = 4;
  RelativeAttention attn(RelativeAttentionOptions(d, H, D));
  auto keys = torch::randn({B, K, d});
  auto queries = keys.narrow(1, M, T);
  auto u = torch::randn({H, D}), v = torch::randn({H, D});
  auto rel = sinusoid_positions(K, d, torch::TensorOptions().dtype(torch::kFloat32));
  auto dist = torch::empty({T, K}, torch::kLong);
  auto allowed = torch::zeros({B, T, K}, torch::kBool);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < K; ++j) {
      dist[i][j] = std::max<int64_t>(M + i - j, 0);
      allowed.select(1, i)[0][j] = j <= M + i;
      allowed.select(1, i)[1][j] = j <= M + i && j >= 1;  // env 1: the oldest slot is masked
    }
  torch::NoGradGuard no_grad;
  auto got = attn->forward(queries, keys, rel, dist, allowed, u, v);

  auto lin = [&](const torch::Tensor& x, const std::string& n, bool bias = true) {
    auto y = torch::matmul(x, param(*attn, n + ".weight").t());
    return bias ? y + param(*attn, n + ".bias") : y;
  };
  auto q = lin(queries, "q").view({B, T, H, D});
  auto kv = lin(keys, "kv").view({B, K, H, 2 * D});
  auto k = kv.narrow(3, 0, D), val = kv.narrow(3, D, D);
  auto R = lin(rel, "r", /*bias=*/false).view({K, H, D});
  auto heads_out = torch::zeros({B, T, H, D});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        auto scores = torch::full({K}, -INFINITY);
        for (int64_t j = 0; j < K; ++j) {
          if (!allowed[b][i][j].item<bool>()) continue;
          auto qi = q[b][i][h];
          scores[j] = ((qi + u[h]).dot(k[b][j][h]) + (qi + v[h]).dot(R[M + i - j][h])) / std::sqrt(double(D));
        }
        heads_out[b][i][h] = torch::matmul(torch::softmax(scores, 0), val[b].select(1, h));
      }
  auto want = lin(heads_out.reshape({B, T, H * D}), "out");
  EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-5)) << (got - want).abs().max().item<double>();
}

TEST(GruGateTest, LargeGateBiasStartsNearTheIdentityMap) {
  torch::manual_seed(5);
  GruGate open(8, /*bias=*/0.0), closed(8, /*bias=*/12.0);
  auto x = torch::randn({4, 8}), y = torch::randn({4, 8});
  torch::NoGradGuard no_grad;
  EXPECT_LT((closed->forward(x, y) - x).abs().max().item<double>(), 0.01);
  EXPECT_GT((open->forward(x, y) - x).abs().max().item<double>(), 0.1);
}

// ---------------------------------------------------------------------------------------------
// Encoders and model selection.

Spec image_spec(int64_t h, int64_t w, int64_t c) { return Spec{{FieldSpec{"pixels", DType::kUInt8, {h, w, c}}}}; }

TEST(EncoderTest, PixelEncodersMapFlatImagesToFeatures) {
  torch::manual_seed(6);
  ModelOptions o;
  o.cnn_features = 32;
  o.impala_channels = {4, 8};
  auto nature = make_encoder(o, image_spec(36, 40, 3));  // auto: an image gets the Nature CNN
  EXPECT_NE(dynamic_cast<NatureCnnImpl*>(nature.get()), nullptr);
  EXPECT_EQ(nature->forward(torch::randint(0, 256, {5, 36 * 40 * 3}).to(torch::kFloat32)).sizes(),
            (std::vector<int64_t>{5, 32}));
  o.encoder = "impala";
  auto impala = make_encoder(o, image_spec(9, 7, 2));
  EXPECT_EQ(impala->out_dim(), 32);
  EXPECT_EQ(impala->forward(torch::randint(0, 256, {4, 9 * 7 * 2}).to(torch::kFloat32)).sizes(),
            (std::vector<int64_t>{4, 32}));
  o.encoder = "auto";
  auto vec = make_encoder(o, Spec{{FieldSpec{"x", DType::kFloat32, {6}}}});
  EXPECT_NE(dynamic_cast<MlpEncoderImpl*>(vec.get()), nullptr);
  EXPECT_EQ(vec->forward(torch::randn({2, 6})).sizes(), (std::vector<int64_t>{2, 64}));
}

TEST(EncoderTest, PixelEncodersScaleBytesToUnitRange) {
  // Without hidden layers the MLP encoder is the scaling alone: an all-255 image becomes ones.
  ModelOptions o;
  o.encoder = "mlp";
  o.encoder_hidden = {};
  auto enc = make_encoder(o, image_spec(2, 2, 1));
  auto x = torch::full({1, 4}, 255.0f);
  EXPECT_TRUE(torch::allclose(enc->forward(x), torch::ones({1, 4})));
}

TEST(EncoderTest, BadEncoderChoicesAreConfigErrors) {
  ModelOptions o;
  o.encoder = "nature";
  EXPECT_THROW(make_encoder(o, image_spec(20, 20, 3)), ConfigError);  // too small for 8x8/4, 4x4/2, 3x3
  EXPECT_THROW(make_encoder(o, Spec{{FieldSpec{"x", DType::kFloat32, {6}}}}), ConfigError);
  o.encoder = "resnet9000";
  EXPECT_THROW(make_encoder(o, image_spec(36, 36, 3)), ConfigError);
}

TEST(MakePolicyTest, PixelObservationsWorkWithEveryModelType) {
  const int64_t T = 3, B = 2, H = 8, W = 8, C = 3;
  for (const std::string type : {"mlp", "lstm", "gtrxl", "agalite", "galite"}) {
    auto o = small_options(type);
    o.encoder = "impala";
    o.impala_channels = {4};
    o.cnn_features = 16;
    torch::manual_seed(8);
    auto p = make_policy(o, image_spec(H, W, C), ActionSpace::discrete(4));
    auto obs = torch::randint(0, 256, {T, B, H * W * C}).to(torch::kFloat32);
    auto out = p->unroll(obs, torch::zeros({T, B}, torch::kBool), p->initial_state(B));
    EXPECT_EQ(out.params.sizes(), (std::vector<int64_t>{T, B, 4})) << type;
    EXPECT_EQ(out.value.sizes(), (std::vector<int64_t>{T, B})) << type;
    auto loss = out.params.pow(2).sum() + out.value.pow(2).sum();
    loss.backward();
    for (const auto& kv : p->named_parameters())
      EXPECT_TRUE(kv.value().grad().defined() && kv.value().grad().abs().sum().item<double>() > 0)
          << type << ": " << kv.key();
  }
}

TEST(MakePolicyTest, DefaultsStayTheMemorylessMlp) {
  ModelOptions o;
  EXPECT_EQ(o.type, "mlp");
  auto p = make_policy(o, /*obs_dim=*/4, ActionSpace::discrete(2));
  EXPECT_NE(dynamic_cast<MlpPolicyImpl*>(p.get()), nullptr);
  EXPECT_TRUE(p->initial_state(2).empty());
  // A vector spec builds the same model as its obs_dim.
  auto q = make_policy(o, Spec{{FieldSpec{"a", DType::kFloat32, {3}}, FieldSpec{"b", DType::kUInt8, {1}}}},
                       ActionSpace::discrete(2));
  EXPECT_EQ(count_parameters(*q), count_parameters(*p));
}

TEST(MakePolicyTest, BadModelOptionsAreConfigErrors) {
  auto space = ActionSpace::discrete(2);
  auto o = small_options("gtrxl");
  o.type = "transformer9000";
  try {
    make_policy(o, 4, space);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("agalite"), std::string::npos) << e.what();
  }
  for (const std::string type : {"gtrxl", "agalite", "galite"}) {
    auto bad = small_options(type);
    bad.d_model = 15;  // not divisible by 2 heads with d_head 0
    EXPECT_THROW(make_policy(bad, 4, space), ConfigError) << type;
    bad = small_options(type);
    bad.layers = 0;
    EXPECT_THROW(make_policy(bad, 4, space), ConfigError) << type;
  }
  auto bad = small_options("agalite");
  bad.r = 0;
  EXPECT_THROW(make_policy(bad, 4, space), ConfigError);
  bad = small_options("gtrxl");
  bad.memory = 0;
  EXPECT_THROW(make_policy(bad, 4, space), ConfigError);
  bad = small_options("lstm");
  bad.encoder = "nature";  // a vector observation
  EXPECT_THROW(make_policy(bad, 4, space), ConfigError);
}

TEST(MakePolicyTest, FlatParametersTransferBetweenRecurrentPolicies) {
  for (const std::string type : {"lstm", "gtrxl", "agalite", "galite"}) {
    torch::manual_seed(1);
    auto a = make_policy(small_options(type), kObsDim, ActionSpace::discrete(3));
    torch::manual_seed(2);
    auto b = make_policy(small_options(type), kObsDim, ActionSpace::discrete(3));
    load_flat_parameters(*b, flatten_parameters(*a));
    auto obs = torch::randn({4, 2, kObsDim});
    auto first = torch::zeros({4, 2}, torch::kBool);
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(a->unroll(obs, first, a->initial_state(2)).params,
                             b->unroll(obs, first, b->initial_state(2)).params))
        << type;
  }
}

}  // namespace
}  // namespace mnemo::nn
