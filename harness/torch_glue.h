// Where the harness meets LibTorch: the tracking allocator under LibTorch's CPU tensors, the thread count,
// and the versions recorded in result files. Only this file and the experiments' LibTorch adapters
// include ATen; the rest of the harness and all kernels build without it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace talklab {

// Routes every CPU tensor LibTorch allocates from now on through memory::allocate. Idempotent.
void install_torch_allocator();

// at::set_num_threads (intra-op) and at::set_num_interop_threads (once), and OpenMP's for our kernels.
void set_threads(int threads);
int torch_threads();

// LibTorch's CUDA caching allocator (GPU boxes): reset its peak, and read the peak of allocated bytes since.
// nullopt when this LibTorch has no CUDA.
void reset_torch_cuda_peak();
std::optional<int64_t> torch_cuda_peak_bytes();
// Allocated bytes now (nullopt without CUDA), LibTorch's current stream on device 0 as a cudaStream_t (nullptr
// without CUDA: the default stream), and a wait for that stream: for code that launches our kernels on LibTorch's
// CUDA tensors without including CUDA headers.
std::optional<int64_t> torch_cuda_current_bytes();
void* torch_cuda_current_stream();
void torch_cuda_synchronize();

std::string torch_version();  // "2.13.0", "2.11.0+cu130"
std::string torch_config();   // at::show_config(), for the curious: which BLAS, which ISA
// What a reader of a result needs to know of the LibTorch that ran, from at::show_config(), at::get_cpu_capability()
// and at::get_parallel_info(): version, CPU capability (the ISA of its vectorized kernels), BLAS and LAPACK,
// MKL, oneDNN and OpenMP versions, the parallel backend, intra-op and inter-op thread counts, CUDA or not.
nlohmann::json torch_build_info();
bool torch_has_cuda();

}  // namespace talklab
