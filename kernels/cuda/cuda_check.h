// Error checks for our CUDA kernels' host code: a failed runtime or cuBLASLt call throws std::runtime_error
// naming the call, the message and the status name. Kernels do not depend on the harness, so this is a
// separate, tiny copy of the harness's check(). Included only from .cu files (it uses CUDA types).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace talklab::cuda::detail {

inline void check_cuda(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return;
  throw std::runtime_error(std::string(call) + ": " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")");
}

inline void check_cublas(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw std::runtime_error(std::string(call) + ": " + cublasLtGetStatusString(status) + " (" +
                           cublasLtGetStatusName(status) + ")");
}

// After a <<<...>>> launch: catches bad launch configurations at once (a fault inside the kernel surfaces
// at the next synchronizing call instead).
// The message is built only on failure: launchers run between the timer's events.
inline void check_launch(const char* kernel) {
  if (const cudaError_t err = cudaGetLastError(); err != cudaSuccess) {
    check_cuda(err, (std::string(kernel) + " launch").c_str());
  }
}

}  // namespace talklab::cuda::detail
