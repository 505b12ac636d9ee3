// The CUDA runtime calls our kernels' launchers, the harness's device probe and DeviceBuffer make, answered on the
// CPU for the SIMT emulator's build (see simt.h). "Device" memory is host memory (256-byte aligned, as cudaMalloc
// gives), copies are memcpy, every launch has already finished when it returns, so synchronizing is a no-op. The
// emulated device reports itself by name, so a test log says plainly that no GPU ran it. Linked instead of cudart:
// a call this file does not define is a link error, not a silent no-op.
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace {

cudaError_t g_last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  g_last_error = e;
  return e;
}

}  // namespace

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  *ptr = std::aligned_alloc(256, (size + 255) / 256 * 256);
  return *ptr == nullptr ? fail(cudaErrorMemoryAllocation) : cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind) {
  if (count > 0 && (dst == nullptr || src == nullptr)) return fail(cudaErrorInvalidValue);
  if (count > 0) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count > 0 && ptr == nullptr) return fail(cudaErrorInvalidValue);
  if (count > 0) std::memset(ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) { return cudaMemset(ptr, value, count); }

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  // Nothing to report truthfully about "device" memory that is the host heap: a fixed 16 GiB of each.
  *free_bytes = *total_bytes = size_t(16) << 30;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return g_last_error; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaError (SIMT emulator)";
  }
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "error in the SIMT emulator's runtime";
  }
}

cudaError_t cudaFuncSetAttribute(const void*, cudaFuncAttribute, int) { return cudaSuccess; }

cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  *version = 0;  // no driver is involved
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, "talklab SIMT emulator (CPU, tests/simt)", sizeof prop->name - 1);
  prop->major = 9;  // what the kernels are written for: sm_90
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  prop->l2CacheSize = 0;
  prop->totalGlobalMem = size_t(16) << 30;
  prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->warpSize = 32;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  // One "SM" (launchers that size persistent grids by it get a small one); clocks and bus width: none to report.
  *value = attr == cudaDevAttrMultiProcessorCount ? 1 : 0;
  return cudaSuccess;
}

}  // extern "C"
