#include "core/comm/communicator.h"

#include <mpi.h>

#include <chrono>
#include <thread>

#include "core/check.h"

namespace mnemo {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default: break;
  }
  throw Error(std::string("MPI communicator: unsupported dtype ") + c10::toString(t.scalar_type()));
}

void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw Error(std::string("MPI ") + what + " failed: " + std::string(msg, static_cast<std::size_t>(len)));
  }
}

// Collectives are started non-blocking and waited for with a deadline, so that a rank whose peer
// died does not wait forever: MPI itself has no timeouts.
class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, std::int64_t timeout_ms) : comm_(comm), timeout_ms_(timeout_ms) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(torch::Tensor& t) override {
    MNEMO_CHECK(t.is_contiguous() && t.device().is_cpu(), "MPI all-reduce needs a contiguous CPU tensor");
    MNEMO_CHECK(t.numel() <= INT32_MAX, "tensor too large for one MPI call");
    MPI_Request req;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM, comm_, &req),
              "Allreduce");
    wait(req, "Allreduce");
  }
  void broadcast(torch::Tensor& t, int root) override {
    MNEMO_CHECK(t.is_contiguous() && t.device().is_cpu(), "MPI broadcast needs a contiguous CPU tensor");
    MPI_Request req;
    check_mpi(MPI_Ibcast(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), root, comm_, &req), "Bcast");
    wait(req, "Bcast");
  }
  void barrier() override {
    MPI_Request req;
    check_mpi(MPI_Ibarrier(comm_, &req), "Barrier");
    wait(req, "Barrier");
  }
  std::string name() const override { return "mpi"; }

 private:
  // Polls `req` (spinning briefly, then sleeping up to 1 ms between tests) until it completes or
  // the timeout passes; then throws TimeoutError naming the collective and the ranks it waited for.
  void wait(MPI_Request& req, const char* what) {
    const auto start = std::chrono::steady_clock::now();
    int sleep_us = 0;
    while (true) {
      int done = 0;
      check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      if (timeout_ms_ > 0 && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(timeout_ms_))
        throw TimeoutError("MPI " + std::string(what) + " among the " + std::to_string(size_) +
                           " learner ranks has not completed in " + std::to_string(timeout_ms_ / 1000) +
                           " s on learner rank " + std::to_string(rank_) +
                           ": another learner rank is gone or stuck (learner.collective_timeout_ms)");
      if (sleep_us == 0) {
        std::this_thread::yield();
        if (std::chrono::steady_clock::now() - start > std::chrono::microseconds(200)) sleep_us = 20;
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
        sleep_us = std::min(sleep_us * 2, 1000);
      }
    }
  }

  MPI_Comm comm_;
  std::int64_t timeout_ms_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(const void* mpi_comm, std::int64_t timeout_ms) {
  return std::make_unique<MpiCommunicator>(*static_cast<const MPI_Comm*>(mpi_comm), timeout_ms);
}

#ifndef MNEMO_HAVE_NCCL
std::unique_ptr<Communicator> make_nccl_communicator(const void*, int) { return nullptr; }
bool nccl_available() { return false; }
#endif

GradientReducer::GradientReducer(Communicator& comm, std::vector<torch::Tensor> params, std::size_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  std::size_t used = 0;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    std::size_t bytes = static_cast<std::size_t>(p.numel()) * p.element_size();
    bool fits = false;
    if (!buckets_.empty()) {
      const auto& first = params_[buckets_.back().members.front()];
      fits = first.scalar_type() == p.scalar_type() && first.device() == p.device() && used + bytes <= bucket_bytes;
    }
    if (!fits) {
      buckets_.push_back(Bucket{});
      used = 0;
    }
    buckets_.back().members.push_back(i);
    used += bytes;
  }
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    int64_t n = 0;
    for (auto m : b.members) n += params_[m].numel();
    b.flat = torch::zeros({n}, params_[b.members.front()].options());
    int64_t off = 0;
    for (auto m : b.members) {
      b.views.push_back(b.flat.narrow(0, off, params_[m].numel()).view(params_[m].sizes()));
      off += params_[m].numel();
    }
    for (std::size_t k = 0; k < b.members.size(); ++k) attach(b, k);
  }
}

void GradientReducer::attach(Bucket& b, std::size_t k) {
  auto& p = params_[b.members[k]];
  const auto& view = b.views[k];
  const auto& grad = p.grad();
  if (grad.defined()) {
    if (grad.data_ptr() == view.data_ptr()) return;
    view.copy_(grad);
  } else {
    view.zero_();
  }
  p.mutable_grad() = view;
}

void GradientReducer::zero_grad() {
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    for (std::size_t k = 0; k < b.members.size(); ++k) attach(b, k);
    b.flat.zero_();
  }
}

void GradientReducer::average_gradients() {
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    for (std::size_t k = 0; k < b.members.size(); ++k) attach(b, k);
    if (comm_.size() == 1) continue;
    comm_.allreduce_sum(b.flat);
    b.flat.mul_(1.0 / comm_.size());
  }
}

// Parameters travel through the bucket buffers, which hold the gradients: call it between
// updates (at start-up, after a restore), not between backward and step.
void GradientReducer::broadcast_parameters(int root) {
  if (comm_.size() == 1) return;
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    int64_t off = 0;
    for (auto m : b.members) {
      b.flat.narrow(0, off, params_[m].numel()).copy_(params_[m].reshape({-1}));
      off += params_[m].numel();
    }
    comm_.broadcast(b.flat, root);
    off = 0;
    for (auto m : b.members) {
      params_[m].copy_(b.flat.narrow(0, off, params_[m].numel()).view(params_[m].sizes()));
      off += params_[m].numel();
    }
    b.flat.zero_();  // the bucket is also the gradients' storage: leave them zeroed
  }
}

}  // namespace mnemo
