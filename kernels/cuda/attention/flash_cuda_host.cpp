// flash_cuda's device-side plan and its launcher (kernels/cuda/attention/flash_cuda.h): uploads the launch plan once,
// then each run fills the kernel's parameters and enqueues one launch (flash_cuda.cu). Host compiler, runtime API.
#include "kernels/cuda/attention/flash_cuda.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace talklab::cuda::attention {
namespace {

// Host image of the device allocation: arrays appended at 16-byte boundaries, offsets remembered.
class Packer {
 public:
  template <class T>
  size_t add(const std::vector<T>& v) {
    const size_t at = (bytes_.size() + 15) / 16 * 16;
    bytes_.resize(at + v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(bytes_.data() + at, v.data(), v.size() * sizeof(T));
    return at;
  }
  const std::vector<unsigned char>& bytes() const { return bytes_; }

 private:
  std::vector<unsigned char> bytes_;
};

}  // namespace

FlashCudaPlan::FlashCudaPlan(const common_attn::AttnShape& shape, const common_attn::MaskSpec& spec, ElementType dtype,
                             float scale, int warp_rows)
    : launch_(make_flash_launch_plan(shape, spec, dtype, scale, warp_rows)) {
  const common_attn::BlockMask& bm = launch_.block_mask;
  Packer pack;
  const size_t partial_count = pack.add(bm.kv_num_blocks);
  const size_t partial_offset = pack.add(bm.kv_offsets);
  const size_t partial_index = pack.add(bm.kv_indices);
  const size_t full_count = pack.add(bm.full_kv_num_blocks);
  const size_t full_offset = pack.add(bm.full_kv_offsets);
  const size_t full_index = pack.add(bm.full_kv_indices);
  const size_t work = pack.add(launch_.work);
  const size_t doc_start = pack.add(launch_.doc_start);
  const size_t slopes = pack.add(launch_.alibi_slopes);
  device_bytes_ = pack.bytes().size();
  detail::check_cuda(cudaMalloc(&device_, device_bytes_), "cudaMalloc(flash_cuda plan)");
  try {
    detail::check_cuda(cudaMemcpy(device_, pack.bytes().data(), device_bytes_, cudaMemcpyHostToDevice),
                       "cudaMemcpy(flash_cuda plan)");
  } catch (...) {
    cudaFree(device_);
    throw;
  }
  auto* base = static_cast<unsigned char*>(device_);
  auto at = [&](size_t offset) { return static_cast<void*>(base + offset); };
  const common_attn::AttnShape& s = launch_.shape;
  base_.B = int(s.B);
  base_.H = int(s.H);
  base_.H_kv = int(s.H_kv);
  base_.S_q = int(s.S_q);
  base_.S_kv = int(s.S_kv);
  base_.D = int(s.D);
  base_.group = int(s.H / s.H_kv);
  base_.warp_rows = launch_.warp_rows;
  base_.scale = launch_.scale;
  base_.softcap = launch_.spec.softcap;
  base_.alibi_slopes = launch_.alibi_slopes.empty() ? nullptr : static_cast<const float*>(at(slopes));
  base_.mask = launch_.mask;
  base_.window = launch_.spec.window;
  base_.prefix = launch_.spec.prefix;
  base_.doc_start = launch_.doc_start.empty() ? nullptr : static_cast<const int32_t*>(at(doc_start));
  base_.bm_B = bm.B;
  base_.bm_H = bm.H;
  base_.num_q_blocks = bm.num_q_blocks;
  base_.partial_count = static_cast<const int32_t*>(at(partial_count));
  base_.partial_offset = static_cast<const int64_t*>(at(partial_offset));
  base_.partial_index = static_cast<const int32_t*>(at(partial_index));
  base_.full_count = static_cast<const int32_t*>(at(full_count));
  base_.full_offset = static_cast<const int64_t*>(at(full_offset));
  base_.full_index = static_cast<const int32_t*>(at(full_index));
  base_.work = static_cast<const int32_t*>(at(work));
  base_.num_work = int(launch_.work.size());
}

FlashCudaPlan::~FlashCudaPlan() {
  if (device_ != nullptr) cudaFree(device_);
}

FlashCudaPlan::FlashCudaPlan(FlashCudaPlan&& o) noexcept
    : launch_(std::move(o.launch_)),
      device_(std::exchange(o.device_, nullptr)),
      device_bytes_(std::exchange(o.device_bytes_, 0)),
      base_(o.base_) {}

FlashCudaPlan& FlashCudaPlan::operator=(FlashCudaPlan&& o) noexcept {
  if (this != &o) {
    if (device_ != nullptr) cudaFree(device_);
    launch_ = std::move(o.launch_);
    device_ = std::exchange(o.device_, nullptr);
    device_bytes_ = std::exchange(o.device_bytes_, 0);
    base_ = o.base_;
  }
  return *this;
}

FlashKernelParams FlashCudaPlan::params(const FlashCudaTensors& t) const {
  if (t.q == nullptr || t.k == nullptr || t.v == nullptr || t.o == nullptr)
    throw std::invalid_argument("flash_cuda: null Q, K, V or O");
  // 16-byte cp.async loads and 16-byte stores (cudaMalloc gives 256-byte alignment).
  for (const void* ptr : {t.q, t.k, t.v, static_cast<const void*>(t.o)})
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0)
      throw std::invalid_argument("flash_cuda: Q, K, V and O must be 16-byte aligned");
  FlashKernelParams p = base_;
  p.q = t.q;
  p.k = t.k;
  p.v = t.v;
  p.o = t.o;
  p.lse = t.lse;
  return p;
}

void flash_cuda(const FlashCudaPlan& plan, const common_attn::AttnShape& shape, const FlashCudaTensors& t, void* stream,
                unsigned long long* executed_tiles) {
  check_same_shape(plan.launch(), shape);
  FlashKernelParams p = plan.params(t);
  p.executed_tiles = executed_tiles;
  launch_flash_kernel(p, plan.launch().dtype, plan.launch().score, stream);
}

common_attn::FlashStats flash_cuda_stats(const FlashCudaPlan& plan) { return flash_cuda_stats(plan.launch()); }

}  // namespace talklab::cuda::attention
