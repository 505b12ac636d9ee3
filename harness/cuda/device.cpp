// Device probe and CUDA error formatting. Plain host code against the runtime API (no kernels), so it is
// compiled by the host compiler. Linked with the static runtime: on a machine without a driver the first
// runtime call fails cleanly (cudaErrorInsufficientDriver or cudaErrorNoDevice) instead of the binary
// failing to load.
#include "harness/cuda/device.h"

#include <cuda_runtime_api.h>

#include <stdexcept>

namespace talklab::cuda {

std::string format_error(int cuda_error_code, const char* call) {
  const auto err = static_cast<cudaError_t>(cuda_error_code);
  std::string text = call ? call : "(unnamed CUDA call)";
  text += ": ";
  text += cudaGetErrorString(err);
  text += " (";
  text += cudaGetErrorName(err);
  text += ")";
  return text;
}

void check(int cuda_error_code, const char* call) {
  if (cuda_error_code != cudaSuccess) throw std::runtime_error(format_error(cuda_error_code, call));
}

DeviceInfo probe_device(int index) {
  DeviceInfo info;
  info.index = index;
  // Versions first: they are worth reporting even when no device is usable (a driver too old for this
  // runtime shows up here as driver_version < runtime_version). Failures here are not fatal to the probe.
  if (cudaRuntimeGetVersion(&info.runtime_version) != cudaSuccess) info.runtime_version = 0;
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;

  int count = 0;
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    info.reason = format_error(err, "cudaGetDeviceCount");
    // Without any driver the runtime says "driver version is insufficient", which reads like an upgrade is
    // needed; say plainly that there is none.
    if (err == cudaErrorInsufficientDriver && info.driver_version == 0) {
      info.reason += "; no CUDA driver is loaded (cudaDriverGetVersion reports 0)";
    }
    (void)cudaGetLastError();  // clear the runtime's last-error slot so a later, unrelated check does not see it
    return info;
  }
  if (count == 0) {
    info.reason = "cudaGetDeviceCount: 0 devices";
    return info;
  }
  if (index < 0 || index >= count) {
    info.reason = "device index " + std::to_string(index) + " out of range: " + std::to_string(count) +
                  " device(s) visible";
    return info;
  }

  cudaDeviceProp prop{};
  if (const cudaError_t err = cudaGetDeviceProperties(&prop, index); err != cudaSuccess) {
    info.reason = format_error(err, "cudaGetDeviceProperties");
    (void)cudaGetLastError();
    return info;
  }
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.sm_count = prop.multiProcessorCount;
  info.l2_bytes = prop.l2CacheSize;
  info.total_memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  info.shared_memory_per_block_optin = static_cast<int64_t>(prop.sharedMemPerBlockOptin);

  struct Attr {
    cudaDeviceAttr attr;
    int* out;
    const char* call;
  };
  const Attr attrs[] = {
      {cudaDevAttrClockRate, &info.sm_clock_khz, "cudaDeviceGetAttribute(cudaDevAttrClockRate)"},
      {cudaDevAttrMemoryClockRate, &info.mem_clock_khz, "cudaDeviceGetAttribute(cudaDevAttrMemoryClockRate)"},
      {cudaDevAttrGlobalMemoryBusWidth, &info.mem_bus_width_bits,
       "cudaDeviceGetAttribute(cudaDevAttrGlobalMemoryBusWidth)"},
  };
  for (const Attr& a : attrs) {
    if (const cudaError_t err = cudaDeviceGetAttribute(a.out, a.attr, index); err != cudaSuccess) {
      info.reason = format_error(err, a.call);
      (void)cudaGetLastError();
      return info;
    }
  }
  info.available = true;
  return info;
}

}  // namespace talklab::cuda
