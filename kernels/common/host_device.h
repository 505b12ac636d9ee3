// TALKLAB_HOST_DEVICE marks a function both nvcc and the host compiler build (__host__ __device__ under nvcc,
// nothing otherwise): for the few definitions a CUDA kernel and CPU code share.
#pragma once

#if defined(__CUDACC__)
#define TALKLAB_HOST_DEVICE __host__ __device__
#else
#define TALKLAB_HOST_DEVICE
#endif
