// What CUDA device this process can use, probed without ever throwing: a CUDA build must run on a machine
// with no GPU (or no driver) and say why. This header exposes no CUDA types, so the rest of the harness is
// compiled by the host compiler alone; CUDA error codes travel as plain ints (cudaError_t values).
#pragma once

#include <cstdint>
#include <string>

namespace talklab::cuda {

struct DeviceInfo {
  bool available = false;
  std::string reason;  // why not, e.g. "cudaGetDeviceCount: no CUDA-capable device is detected (cudaErrorNoDevice)"
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int64_t l2_bytes = 0;
  int64_t total_memory_bytes = 0;
  int64_t shared_memory_per_block_optin = 0;  // what a block may use after cudaFuncSetAttribute raises it
  int driver_version = 0;                     // e.g. 13000 for CUDA 13.0; 0 when no driver is installed
  int runtime_version = 0;
  // Peak clocks from cudaDeviceGetAttribute: CUDA 13 removed clockRate and memoryClockRate from cudaDeviceProp.
  int sm_clock_khz = 0;
  int mem_clock_khz = 0;
  int mem_bus_width_bits = 0;
};

// Device `index` as the runtime sees it. Never throws: on any failure available=false and reason says which
// call failed and why.
DeviceInfo probe_device(int index = 0);

// "call: message (cudaErrorName)" for a cudaError_t value.
std::string format_error(int cuda_error_code, const char* call);

// Throws std::runtime_error(format_error(...)) unless cuda_error_code is cudaSuccess.
void check(int cuda_error_code, const char* call);

}  // namespace talklab::cuda
