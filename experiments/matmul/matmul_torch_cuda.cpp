// torch_bf16_cuda, torch_scaled_mm, torch_scaled_mm_rowwise: LibTorch's matmuls on the GPU, what a user calls
// instead of our cuBLASLt and W4A16 kernels. C (M x N) = A (M x K) x B (K x N), A the activation, B the weight,
// both drawn as float32 on the host (problem.h) and gated against the float64 product of those unquantized values.
//   torch_bf16_cuda          at::matmul on bf16 A (M, K) and B (K, N), both row-major, bf16 C (cuBLAS, fp32
//                            accumulation; LibTorch's default lets cuBLAS reduce split-K partials in bf16).
//   torch_scaled_mm          at::_scaled_mm on fp8 e4m3 A (M, K) row-major and B (K, N) column-major, one float32
//                            scale per operand (tensorwise), bf16 C. On sm_90 cuBLASLt takes only row-major x
//                            column-major, so B is kept as the weight W (N, K) row-major, as nn.Linear stores it.
//   torch_scaled_mm_rowwise  the same with a scale per row of A, (M, 1), and per column of B, (1, N): rowwise, run by
//                            cuBLASLt (>= 12.9) on sm_90, by PyTorch's CUTLASS kernel elsewhere.
// Bound: at M <= 16 (decode, K = 4096, N = 14336) every weight byte is read once for 2M (bf16) or 2M x 2 (fp8)
// FLOPs per weight element: memory-bound on B, so fp8 should approach 2x bf16. At 8192^3, ~2700 FLOPs per byte
// (bf16): compute-bound, fp8's tensor cores give up to 2x. Limits: at::_scaled_mm needs K and N multiples of 16.
// The fp8 codes and scales are the CPU recipes' (kernels/cpu/quant/scaling.h: quantize_tensorwise /
// quantize_rowwise, scale = amax / 448, saturating round-to-nearest-even), made on the host in setup and copied
// once, so the gate sees the same quantized operands as fp8_tensorwise / fp8_rowwise. The timed run is
// _scaled_mm alone: activation quantization is not in it (the emulated CPU recipes time it; compare with their
// matmul_s counter); the counter act_quant_s says what quantizing A on the device would add. use_fast_accum = false,
// the op's default (torchao's forward sets it: faster, with reduced-precision fp8 accumulation).
// Every run enqueues on the case's own stream (c10::cuda::getStreamFromPool); peak memory is the caching
// allocator's peak of allocated bytes over the checked run, inputs and output included.
//   bench --device cuda --profile gpu --filter 'matmul/torch_(bf16_cuda|scaled_mm)'
#include <fmt/format.h>

#include <optional>
#include <stdexcept>

#include "experiments/matmul/matmul_torch.h"
#include "experiments/matmul/problem.h"

#if TALKLAB_HAVE_CUDA
#include "harness/cuda/device.h"
#endif
#if TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <vector>

#include "harness/stats.h"
#include "kernels/cpu/quant/scaling.h"
#endif

namespace talklab::experiments::matmul {
namespace {


// Compute capability of device 0 as major * 10 + minor, 0 when there is no device (the harness then skips every
// CUDA case with the runtime's reason).
int device_compute_capability() {
#if TALKLAB_HAVE_CUDA
  static const int cc = [] {
    const cuda::DeviceInfo d = cuda::probe_device(0);
    return d.available ? d.cc_major * 10 + d.cc_minor : 0;
  }();
  return cc;
#else
  return 0;
#endif
}

#if TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA

namespace q = talklab::cpu::quant;

constexpr c10::DeviceIndex kDevice = 0;

// c10/core/ScalarType.h: Float8_e4m3fn, OCP e4m3 "finite", the encoding kernels/cpu/quant/fp8.h produces.
at::ScalarType fp8_e4m3fn() { return at::kFloat8_e4m3fn; }

// Schema (native_functions.yaml, 2.4+, unchanged in 2.11): _scaled_mm(Tensor self, Tensor mat2, Tensor scale_a,
// Tensor scale_b, Tensor? bias=None, Tensor? scale_result=None, ScalarType? out_dtype=None,
// bool use_fast_accum=False) -> Tensor; its CUDA checks (aten/src/ATen/native/cuda/ScaledBlas.cpp): tensorwise
// = float scales of one element, rowwise = float (M, 1) and (1, N), contiguous; mat1 row-major, mat2 column-major
// on sm_90; K and N multiples of 16.
at::Tensor scaled_mm_bf16(const at::Tensor& a, const at::Tensor& b, const at::Tensor& scale_a,
                          const at::Tensor& scale_b) {
  return at::_scaled_mm(a, b, scale_a, scale_b, std::nullopt, std::nullopt, at::kBFloat16, /*use_fast_accum=*/false);
}


class TorchCudaMatmulCase : public Case {
 public:
  explicit TorchCudaMatmulCase(const CaseContext& ctx) : seed_(ctx.seed) { in_.s = shape_of(ctx.params); }
  void setup() override {
    stream_.emplace(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, kDevice));
    const c10::cuda::CUDAStreamGuard guard(*stream_);
    in_.fill(seed_);
    upload();
    stream_->synchronize();
  }
  // A fresh C every run: poisoning drops the last one. The peak is reset after setup, so it covers the checked
  // run with the operands it reads, and nothing setup needed on the way (float32 copies, transposes).
  void poison() override {
    c_ = at::Tensor();
    stream_->synchronize();
    c10::cuda::CUDACachingAllocator::resetPeakStats(kDevice);
  }
  void run() override {
    const c10::cuda::CUDAStreamGuard guard(*stream_);
    c_ = multiply();
  }
  Accuracy check() override {
    stream_->synchronize();
    // allocated_bytes[0]: StatType::AGGREGATE, all pools.
    peak_bytes_ = c10::cuda::CUDACachingAllocator::getDeviceStats(kDevice).allocated_bytes[0].peak;
    const c10::cuda::CUDAStreamGuard guard(*stream_);
    const at::Tensor c = c_.cpu().contiguous();
    if (c.scalar_type() != at::kBFloat16) {
      throw std::logic_error(fmt::format("expected a bf16 product, LibTorch returned {}", c10::toString(c.scalar_type())));
    }
    return check_product(in_, c.data_ptr(), /*c_bf16=*/true, tolerance(), seed_);
  }
  void* stream() override { return stream_ ? static_cast<void*>(stream_->stream()) : nullptr; }
  std::optional<int64_t> device_peak_bytes() override { return peak_bytes_; }

 protected:
  virtual void upload() = 0;            // on the case's stream: the operands in the form run() reads them
  virtual at::Tensor multiply() = 0;    // the timed call, on the case's stream
  virtual RecipeTolerance tolerance() const = 0;
  static at::Device device() { return at::Device(at::kCUDA, kDevice); }
  uint64_t seed_;
  Inputs in_;
  std::optional<c10::cuda::CUDAStream> stream_;  // no default constructor: made in setup
  at::Tensor c_;
  std::optional<int64_t> peak_bytes_;
};

class Bf16CudaCase final : public TorchCudaMatmulCase {
 public:
  using TorchCudaMatmulCase::TorchCudaMatmulCase;

 private:
  void upload() override {
    const Shape& s = in_.s;
    a_ = at::from_blob(in_.a.data(), {s.M, s.K}, at::kFloat).to(device(), at::kBFloat16);
    b_ = at::from_blob(in_.b.data(), {s.K, s.N}, at::kFloat).to(device(), at::kBFloat16);
  }
  at::Tensor multiply() override { return at::matmul(a_, b_); }
  RecipeTolerance tolerance() const override { return kBf16Tolerance; }
  at::Tensor a_, b_;
};

class ScaledMmCase final : public TorchCudaMatmulCase {
 public:
  ScaledMmCase(const CaseContext& ctx, bool rowwise) : TorchCudaMatmulCase(ctx), rowwise_(rowwise) {}

 private:
  void upload() override {
    const Shape& s = in_.s;
    constexpr q::ElemType kE4m3 = q::ElemType::fp8_e4m3fn;
    q::Quantized qa = rowwise_ ? q::quantize_rowwise(in_.a.data(), q::Operand::A, s.M, s.K, kE4m3)
                               : q::quantize_tensorwise(in_.a.data(), q::Operand::A, s.M, s.K, kE4m3);
    q::Quantized qb = rowwise_ ? q::quantize_rowwise(in_.b.data(), q::Operand::B, s.K, s.N, kE4m3)
                               : q::quantize_tensorwise(in_.b.data(), q::Operand::B, s.K, s.N, kE4m3);
    // The codes travel as bytes and are reinterpreted on the device (view keeps the bits: both are 1 byte wide).
    a_ = at::from_blob(qa.codes.data(), {s.M, s.K}, at::kByte).to(device()).view(fp8_e4m3fn());
    // B (K, N) row-major -> W (N, K) row-major, passed as its transpose: a column-major (K, N) view.
    const at::Tensor b_rows = at::from_blob(qb.codes.data(), {s.K, s.N}, at::kByte).to(device());
    b_ = b_rows.t().contiguous().view(fp8_e4m3fn()).t();
    const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(device());
    if (rowwise_) {  // scaling.h: A's scales per row (M x 1), B's per column (1 x N), both contiguous
      scale_a_ = at::from_blob(qa.scales.data(), {s.M, 1}, at::kFloat).to(device());
      scale_b_ = at::from_blob(qb.scales.data(), {1, s.N}, at::kFloat).to(device());
    } else {
      scale_a_ = at::scalar_tensor(qa.scales.at(0), f32);  // 0-dim, as torch.tensor(scale) is in Python
      scale_b_ = at::scalar_tensor(qb.scales.at(0), f32);
    }
  }
  at::Tensor multiply() override { return scaled_mm_bf16(a_, b_, scale_a_, scale_b_); }
  RecipeTolerance tolerance() const override { return kFp8Tolerance; }

 public:
  // act_quant_s: what quantizing A on the device every call would add, as torchao's dynamic float8 recipe does it
  // in eager ops (amax, scale, divide, clamp, cast: one launch each), in CUDA-event seconds on the case's stream.
  // Measured after the checked run, so the float32 copy of A it needs stays out of the peak.
  void add_counters(Counters& out) override { out.emplace_back("act_quant_s", activation_quant_seconds()); }

 private:
  double activation_quant_seconds() {
    constexpr int kSamples = 21;
    constexpr double kE4m3Max = 448.0;
    constexpr double kMinScale = 1e-12;  // an all-zero row would otherwise divide by zero
    const c10::cuda::CUDAStreamGuard guard(*stream_);
    const at::Tensor a = at::from_blob(in_.a.data(), {in_.s.M, in_.s.K}, at::kFloat).to(device());
    const auto quantize = [&] {
      const at::Tensor amax = rowwise_ ? a.abs().amax({1}, /*keepdim=*/true) : a.abs().max();
      const at::Tensor scale = amax.div(kE4m3Max).clamp_min(kMinScale);
      return a.div(scale).clamp(at::Scalar(-kE4m3Max), at::Scalar(kE4m3Max)).to(fp8_e4m3fn());
    };
    quantize();  // warm-up: the first launches of a kernel pay for loading it
    at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
    std::vector<double> seconds;
    for (int i = 0; i < kSamples; ++i) {
      start.record(*stream_);
      quantize();
      stop.record(*stream_);
      stop.synchronize();
      seconds.push_back(double(start.elapsed_time(stop)) * 1e-3);
    }
    return summarize(seconds).median;
  }
  bool rowwise_;
  at::Tensor a_, b_, scale_a_, scale_b_;
};

#endif  // TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA

}  // namespace

std::string scaled_mm_skip(const Params& p, int compute_capability) {
  const Shape s = shape_of(p);
  if (s.K % 16 != 0 || s.N % 16 != 0) {
    return fmt::format("at::_scaled_mm needs K and N multiples of 16; K = {}, N = {}", s.K, s.N);
  }
  if (compute_capability > 0 && compute_capability < 89) {
    return fmt::format("fp8 matmuls need compute capability 8.9 or newer; this device is {}.{}",
                       compute_capability / 10, compute_capability % 10);
  }
  return "";
}

std::vector<Implementation> torch_cuda_implementations() {
  Implementation bf16;
  bf16.name = "torch_bf16_cuda";
  bf16.provider = Provider::pytorch_eager;
  bf16.device = Device::cuda;
  bf16.description = "LibTorch at::matmul on CUDA, bf16 in and out (cuBLAS)";
  bf16.work = [](const CaseContext& ctx) { return recipe_work(ctx, 2, 2, 2, "bf16"); };

  Implementation tensorwise;
  tensorwise.name = "torch_scaled_mm";
  tensorwise.provider = Provider::pytorch_eager;
  tensorwise.device = Device::cuda;
  tensorwise.description = "LibTorch at::_scaled_mm on CUDA: fp8 e4m3, one scale per tensor, bf16 out";
  tensorwise.work = [](const CaseContext& ctx) { return recipe_work(ctx, 1, 1, 2, "fp8_e4m3"); };
  tensorwise.skip = [](const Params& p) { return scaled_mm_skip(p, device_compute_capability()); };

  Implementation rowwise = tensorwise;
  rowwise.name = "torch_scaled_mm_rowwise";
  rowwise.provider = Provider::pytorch_eager;
  rowwise.description = "LibTorch at::_scaled_mm on CUDA: fp8 e4m3, per-row (A) / per-column (B) scales, bf16 out";
  rowwise.work = [](const CaseContext& ctx) {  // one float32 scale per row of A and per column of B
    const double K = double(shape_of(ctx.params).K);
    return recipe_work(ctx, 1.0 + 4.0 / K, 1.0 + 4.0 / K, 2, "fp8_e4m3");
  };

#if TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA
  bf16.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<Bf16CudaCase>(ctx); };
  tensorwise.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> {
    return std::make_unique<ScaledMmCase>(ctx, false);
  };
  rowwise.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> {
    return std::make_unique<ScaledMmCase>(ctx, true);
  };
#elif TALKLAB_TORCH_CUDA
  bf16.missing_reason = "this build has no CUDA code, and CUDA cases are timed with CUDA events (configure with "
                        "-DTALKLAB_CUDA=ON where nvcc is installed)";
  tensorwise.missing_reason = rowwise.missing_reason = bf16.missing_reason;
#else
  bf16.missing_reason = "LibTorch was built without CUDA";
  tensorwise.missing_reason = rowwise.missing_reason = bf16.missing_reason;
#endif
  return {std::move(bf16), std::move(tensorwise), std::move(rowwise)};
}

}  // namespace talklab::experiments::matmul
