// flash_cuda: the attention experiment on the GPU with our kernel (kernels/cuda/attention/flash_cuda.h). The case
// uploads the same seeded inputs as the CPU implementations (problem.h), builds the launch plan once (block mask,
// launch order), runs on its own stream, and is checked against the float64 reference on the host like flash_cpu.
// Work as the experiment declares it: useful FLOPs of unmasked pairs; executed FLOPs of whole tiles as a counter.
//   bench run --profile gpu --device cuda --filter 'attention/flash_cuda'
#include "experiments/attention/attention_cuda.h"

#include <fmt/format.h>

#include "experiments/attention/problem.h"
#include "harness/sampler.h"
#if TALKLAB_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <optional>

#include "harness/cuda/device.h"
#include "harness/cuda/memory.h"
#include "kernels/cuda/attention/flash_cuda.h"
#include "kernels/cuda/attention/flash_cuda_tolerances.h"
#endif

namespace talklab::experiments::attention {
namespace {

std::string flash_cuda_skip(const Params& p) {
  if (p.str("dtype") != "bf16") return fmt::format("flash_cuda computes in bf16 (or fp16), not {}", p.str("dtype"));
  const int64_t d = p.integer("head_dim");
  if (d != 64 && d != 128) return fmt::format("flash_cuda supports head_dim 64 and 128, not {}", d);
  return "";
}

#if TALKLAB_HAVE_CUDA
namespace cuda_attn = talklab::cuda::attention;

class FlashCudaCase final : public Case {
 public:
  FlashCudaCase(const CaseContext& ctx, int warp_rows)
      : spec_(mask_spec_of(ctx.params)), seed_(ctx.seed), warp_rows_(warp_rows) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  ~FlashCudaCase() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  void setup() override {
    // A blocking stream: ordered with the synchronous copies and memsets of DeviceBuffer (legacy default stream).
    cuda::check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    in_.fill(seed_);
    const attn::AttnShape& s = in_.shape;
    q_ = upload(in_.q);
    k_ = upload(in_.k);
    v_ = upload(in_.v);
    o_ = cuda::DeviceBuffer(size_t(s.B * s.H * s.S_q * s.D) * sizeof(uint16_t));
    lse_ = cuda::DeviceBuffer(size_t(s.B * s.H * s.S_q) * sizeof(float));
    plan_build_s_ =
        wall_seconds([&] { plan_.emplace(s, spec_, cuda_attn::ElementType::bf16, 0.f, warp_rows_); });
    stats_ = cuda_attn::flash_cuda_stats(*plan_);
  }
  void poison() override {
    o_.fill_bytes(0xff);  // NaN in bf16 and float32
    lse_.fill_bytes(0xff);
  }
  void run() override {
    cuda_attn::flash_cuda(*plan_, in_.shape, {q_.data(), k_.data(), v_.data(), o_.data(), static_cast<float*>(lse_.data())},
                          stream_);
  }
  Accuracy check() override {
    cuda::check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    std::vector<uint16_t> out(o_.bytes() / sizeof(uint16_t));
    o_.copy_to_host(out.data(), o_.bytes());
    return check_output(in_, spec_, out.data(), seed_, cuda_attn::kOutTolBf16);
  }
  void* stream() override { return stream_; }
  std::optional<int64_t> device_peak_bytes() override {
    return int64_t(q_.bytes() + k_.bytes() + v_.bytes() + o_.bytes() + lse_.bytes() + plan_->device_bytes());
  }
  void add_counters(Counters& out) override {
    add_block_counters(out, spec_, in_.shape, stats_.executed_flops, stats_.full_blocks, stats_.partial_blocks,
                       plan_build_s_);
  }

 private:
  static cuda::DeviceBuffer upload(const memory::Buffer<std::byte>& host) {
    cuda::DeviceBuffer d(host.size());
    d.copy_from_host(host.data(), host.size());
    return d;
  }
  attn::MaskSpec spec_;
  uint64_t seed_;
  int warp_rows_;
  Inputs in_;
  cudaStream_t stream_ = nullptr;
  cuda::DeviceBuffer q_, k_, v_, o_, lse_;
  std::optional<cuda_attn::FlashCudaPlan> plan_;
  attn::FlashStats stats_;
  double plan_build_s_ = 0;
};
#endif

// Two tilings of the same kernel, measured side by side until a GPU run says which should be the only one:
// flash_cuda, 8 warps of 16 query rows (Q kept in registers), and flash_cuda_32rows, 4 warps of 32 (each K / V
// fragment read from shared memory serves two m16 tiles: half the shared-memory traffic per flop, Q re-read).
Implementation flash_cuda_implementation(const char* name, int warp_rows, const char* description) {
  Implementation flash;
  flash.name = name;
  flash.device = Device::cuda;
  flash.description = description;
  flash.skip = flash_cuda_skip;
  flash.missing_reason = "CUDA was not compiled into this build (configure with -DTALKLAB_CUDA=ON where nvcc is installed)";
#if TALKLAB_HAVE_CUDA
  flash.make = [warp_rows](const CaseContext& ctx) -> std::unique_ptr<Case> {
    return std::make_unique<FlashCudaCase>(ctx, warp_rows);
  };
#else
  (void)warp_rows;
#endif
  return flash;
}

}  // namespace

std::vector<Implementation> cuda_implementations() {
  std::vector<Implementation> out;
  out.push_back(flash_cuda_implementation(
      "flash_cuda", 16, "ours: block-sparse FlashAttention-2 on tensor cores (mma.sync, bf16), 8 warps x 16 rows"));
  out.push_back(flash_cuda_implementation(
      "flash_cuda_32rows", 32,
      "ours, 4 warps x 32 rows: each K/V fragment serves two m16 tiles (half the shared-memory reads per flop)"));
  return out;
}

}  // namespace talklab::experiments::attention
