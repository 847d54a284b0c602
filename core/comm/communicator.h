// Communicator: the gradient plane among data-parallel learners.
//
// Collective operations on tensors (all-reduce, broadcast, barrier) with three implementations:
// a single rank (no-op), MPI for CPU tensors and NCCL for CUDA tensors (built with MNEMO_HAVE_NCCL;
// its unique id travels over MPI). GradientReducer fuses many small gradients into flat buckets
// before reducing them, as Horovod's tensor fusion does: one collective per bucket instead of one
// per parameter, which matters for models with hundreds of small tensors.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace mnemo {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums `t` element-wise over all ranks, in place. `t` must be contiguous.
  virtual void allreduce_sum(torch::Tensor& t) = 0;
  // Copies `t` from `root` to every rank, in place. `t` must be contiguous.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  virtual std::string name() const = 0;
};

// The embedded (one learner) case: every collective is the identity.
class SingleCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(torch::Tensor&) override {}
  void broadcast(torch::Tensor&, int) override {}
  void barrier() override {}
  std::string name() const override { return "single"; }
};

// MPI over a communicator handle (an MPI_Comm, passed as an integer-sized opaque value so this
// header does not include mpi.h). CPU tensors of float32/float64/int64. A collective that has not
// completed after `timeout_ms` (0: never) throws TimeoutError: a peer rank is gone or stuck.
std::unique_ptr<Communicator> make_mpi_communicator(const void* mpi_comm, std::int64_t timeout_ms = 300000);

// NCCL over the ranks of an MPI communicator; null when mnemo was built without NCCL.
std::unique_ptr<Communicator> make_nccl_communicator(const void* mpi_comm, int device);
bool nccl_available();

// Averages the gradients of `params` across ranks through fused buckets of at most
// `bucket_bytes` (parameters of one dtype and device per bucket, in registration order).
//
// Each parameter's .grad() is made a view into its bucket (as PyTorch DDP's
// gradient_as_bucket_view), so backward accumulates straight into the flat buffers and the
// all-reduce needs no gather or scatter copies. Use zero_grad() here rather than the
// optimizer's, which may replace the views (LibTorch 2.x sets gradients to none); a replaced
// gradient is detected, copied in and re-attached.
class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::vector<torch::Tensor> params, std::size_t bucket_bytes = 4 << 20);
  void zero_grad();
  void average_gradients();
  // Makes every rank hold root's parameter values (at start-up and after restore).
  void broadcast_parameters(int root = 0);
  std::size_t num_buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into params_
    std::vector<torch::Tensor> views;  // each member's gradient view into flat
    torch::Tensor flat;
  };
  // Makes params_[m].grad() the view of its slot in `b` again, keeping its current values.
  void attach(Bucket& b, std::size_t k);
  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::vector<Bucket> buckets_;
};

}  // namespace mnemo
