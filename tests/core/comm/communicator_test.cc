// Tests of gradient bucketing with the single-rank communicator and of the tensor adapters.
#include "core/comm/communicator.h"

#include <gtest/gtest.h>

#include "core/models/tensor.h"

namespace mnemo {
namespace {

TEST(GradientReducerTest, FusesSmallParametersIntoFewBuckets) {
  std::vector<torch::Tensor> params;
  for (int i = 0; i < 10; ++i) params.push_back(torch::zeros({100}, torch::requires_grad()));
  SingleCommunicator comm;
  GradientReducer fused(comm, params, /*bucket_bytes=*/4000);
  EXPECT_EQ(fused.num_buckets(), 1u);
  GradientReducer split(comm, params, /*bucket_bytes=*/800);
  EXPECT_EQ(split.num_buckets(), 5u);
}

TEST(GradientReducerTest, SeparatesDtypesIntoDifferentBuckets) {
  std::vector<torch::Tensor> params{torch::zeros({4}, torch::requires_grad()),
                                    torch::zeros({4}, torch::dtype(torch::kFloat64).requires_grad(true))};
  SingleCommunicator comm;
  GradientReducer r(comm, params);
  EXPECT_EQ(r.num_buckets(), 2u);
}

TEST(GradientReducerTest, SingleRankLeavesGradientsUnchanged) {
  auto p = torch::ones({3}, torch::requires_grad());
  (p * torch::tensor({1.0f, 2.0f, 3.0f})).sum().backward();
  SingleCommunicator comm;
  GradientReducer r(comm, {p});
  r.average_gradients();
  EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({1.0f, 2.0f, 3.0f})));
}

TEST(TensorAdapterTest, ArrayToTensorSharesMemory) {
  Array a = Array::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  torch::Tensor t = to_tensor(a);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.data_ptr(), a.raw());
  t[1][2] = 42.0f;
  EXPECT_EQ(a.data<float>()[5], 42.0f);
}

TEST(TensorAdapterTest, TensorOutlivesTheArrayThatMadeIt) {
  torch::Tensor t;
  {
    Array a = Array::from_vector<std::int64_t>({7, 8});
    t = to_tensor(a);
  }
  EXPECT_EQ(t[1].item<int64_t>(), 8);
}

TEST(TensorAdapterTest, TensorToArrayRoundTripsEveryDtype) {
  for (auto dt : {torch::kUInt8, torch::kInt32, torch::kInt64, torch::kFloat32, torch::kFloat64}) {
    auto t = torch::arange(6, torch::dtype(dt)).reshape({3, 2});
    Array a = to_array(t);
    EXPECT_EQ(a.shape(), (Shape{3, 2}));
    EXPECT_TRUE(torch::equal(to_tensor(a), t));
  }
}

TEST(TensorAdapterTest, NonContiguousTensorIsCopiedContiguously) {
  auto t = torch::arange(6, torch::kFloat32).reshape({2, 3}).t();
  Array a = to_array(t);
  EXPECT_EQ(a.shape(), (Shape{3, 2}));
  EXPECT_EQ(a.data<float>()[1], 3.0f);
}

}  // namespace
}  // namespace mnemo

namespace mnemo {
namespace {

TEST(GradientReducerTest, BackwardAccumulatesIntoTheBucketsAndZeroGradClearsThem) {
  auto a = torch::ones({3}, torch::requires_grad());
  auto b = torch::ones({2}, torch::requires_grad());
  SingleCommunicator comm;
  GradientReducer r(comm, {a, b});
  (a * 2).sum().backward();
  (b * 3).sum().backward();
  r.average_gradients();
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, 2.0f)));
  EXPECT_TRUE(torch::equal(b.grad(), torch::full({2}, 3.0f)));
  (a * 2).sum().backward();  // accumulates, as autograd always does
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, 4.0f)));
  r.zero_grad();
  EXPECT_TRUE(torch::equal(a.grad(), torch::zeros({3})));
}

TEST(GradientReducerTest, ReplacedGradientIsCopiedBackIntoItsBucket) {
  auto a = torch::ones({3}, torch::requires_grad());
  SingleCommunicator comm;
  GradientReducer r(comm, {a});
  a.mutable_grad() = torch::full({3}, 5.0f);  // e.g. an optimizer that set gradients to none
  r.average_gradients();
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, 5.0f)));
  (a * 1).sum().backward();
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, 6.0f)));
}

}  // namespace
}  // namespace mnemo
