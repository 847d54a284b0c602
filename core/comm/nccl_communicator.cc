// NCCL communicator for CUDA tensors. Compiled only when NCCL and the CUDA toolkit are found
// (MNEMO_HAVE_NCCL). It uses the CUDA runtime directly rather than c10::cuda so that it also
// compiles against a CPU-only LibTorch (as on CI machines that have the toolkit but no GPU).
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include "core/check.h"
#include "core/comm/communicator.h"

namespace mnemo {
namespace {

void check_cuda(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) throw Error(std::string("CUDA ") + what + ": " + cudaGetErrorString(rc));
}
void check_nccl(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess) throw Error(std::string("NCCL ") + what + ": " + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kInt64: return ncclInt64;
    case torch::kInt32: return ncclInt32;
    case torch::kUInt8: return ncclUint8;
    default: break;
  }
  throw Error(std::string("NCCL communicator: unsupported dtype ") + c10::toString(t.scalar_type()));
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(MPI_Comm mpi, int device) : device_(device) {
    MPI_Comm_rank(mpi, &rank_);
    MPI_Comm_size(mpi, &size_);
    ncclUniqueId id;
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "GetUniqueId");
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, mpi);
    check_cuda(cudaSetDevice(device_), "SetDevice");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "StreamCreate");
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "CommInitRank");
  }
  ~NcclCommunicator() override {
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(torch::Tensor& t) override {
    check_input(t);
    // Torch kernels run on its own stream: wait for them so the gradients are complete.
    check_cuda(cudaDeviceSynchronize(), "DeviceSynchronize");
    check_nccl(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t), ncclSum,
                             comm_, stream_),
               "AllReduce");
    check_cuda(cudaStreamSynchronize(stream_), "StreamSynchronize");
  }
  void broadcast(torch::Tensor& t, int root) override {
    check_input(t);
    check_cuda(cudaDeviceSynchronize(), "DeviceSynchronize");
    check_nccl(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t), root, comm_,
                             stream_),
               "Broadcast");
    check_cuda(cudaStreamSynchronize(stream_), "StreamSynchronize");
  }
  void barrier() override {
    auto one = torch::ones({1}, torch::TensorOptions().device(torch::Device(torch::kCUDA, device_)));
    allreduce_sum(one);
  }
  std::string name() const override { return "nccl"; }

 private:
  void check_input(const torch::Tensor& t) const {
    MNEMO_CHECK(t.is_cuda() && t.is_contiguous(), "NCCL collectives need contiguous CUDA tensors");
  }
  int device_;
  int rank_ = 0;
  int size_ = 1;
  cudaStream_t stream_{};
  ncclComm_t comm_{};
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const void* mpi_comm, int device) {
  return std::make_unique<NcclCommunicator>(*static_cast<const MPI_Comm*>(mpi_comm), device);
}
bool nccl_available() { return true; }

}  // namespace mnemo
