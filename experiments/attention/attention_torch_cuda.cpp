// torch_eager_cuda and torch_sdpa_cuda: LibTorch's attention on the GPU, what a user runs instead of flash_cuda.
// The same math as the CPU cases (attention_torch.cpp), on CUDA tensors:
//   Q (B, H, S, D), K and V (B, H_kv, S, D), O (B, H, S, D); bf16 or f32.
//   torch_eager_cuda  Q K^T materialized as (B, H, S, S) in the input dtype, score mod, masked_fill, softmax, @ V.
//                     Memory-bound: the S x S tensors are written and read about six times (2 bytes each in bf16)
//                     for 4 D FLOPs per (q, k) pair, and they take O(B H S^2) device memory.
//   torch_sdpa_cuda   at::scaled_dot_product_attention with its backend chosen for it (at::Context's SDPA switches,
//                     the C++ form of torch.nn.attention.sdpa_kernel, set around every run and restored after):
//                     no mask tensor (full, or causal through is_causal): flash only (bf16; f32 has no flash kernel,
//                     so it gets memory-efficient); a dense mask (sliding_window, document, prefix_lm, an ALiBi
//                     bias): memory-efficient or cuDNN, flash and math off. The backend that ran is the label
//                     sdpa_backend ("flash", "efficient", "cudnn"), asked of at::_fused_sdp_choice
//                     with the same inputs and switches. Flash is compute-bound (the S x S tile stays on chip and
//                     fully masked tiles are skipped under is_causal); a dense mask adds S^2 reads per (b, h) and
//                     skips nothing, which is what a block-sparse kernel saves.
// Inputs are the host Inputs of problem.h (the CPU cases' values for a seed), copied to the device once in setup.
// Every run enqueues on the case's own stream (c10::cuda::getStreamFromPool), which stream() hands to the
// harness's event timer. Peak memory: the caching allocator's peak of allocated bytes over the checked run
// (reset in poison(), read before check() allocates anything), inputs and output included.
// Grouped-query attention: torch_sdpa_cuda passes enable_gqa, as the CPU case does, where the enabled backends
// accept it (at::_fused_sdp_choice says so in prepare()); where none does, it repeats K and V and says so in
// the label gqa ("enable_gqa" or "repeat_kv"). torch_eager_cuda always repeats them.
//   bench --device cuda --profile gpu --filter 'attention/torch_(eager|sdpa)_cuda'
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

#include "experiments/attention/attention_torch.h"
#include "experiments/attention/problem.h"
#include "experiments/attention/torch_masks.h"

#include "harness/context.h"
#if TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#endif

namespace talklab::experiments::attention {
namespace {

// Math is disabled, so a point none of the fused kernels accepts is skipped here rather than failing in setup:
// flash and memory-efficient both want head_dim a multiple of 8 (16-byte rows in 16-bit types), flash at most 256.
std::string sdpa_skip(const Params& p) {
  if (p.str("mask") == "causal+softcap") return "SDPA takes no score_mod: a tanh softcap cannot be expressed";
  const int64_t head_dim = p.integer("head_dim");
  if (head_dim % 8 != 0 || head_dim > 256) {
    return fmt::format("SDPA's fused CUDA kernels need head_dim a multiple of 8 and at most 256; head_dim = {}", head_dim);
  }
  return torch_cuda_memory_skip(p, true, gpu_memory_bytes());
}

#if TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA

constexpr c10::DeviceIndex kDevice = 0;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Which SDPA kernels LibTorch may pick: at::Context's process-wide switches, one per backend.
struct SdpBackends {
  bool flash = false;
  bool efficient = false;
  bool math = false;
  bool cudnn = false;
};

std::string enabled_names(const SdpBackends& b) {
  std::string out;
  const auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ", ";
    out += name;
  };
  add(b.flash, "flash");
  add(b.efficient, "efficient");
  add(b.math, "math");
  add(b.cudnn, "cudnn");
  return out;
}

// Sets LibTorch's process-wide SDPA switches for a scope and restores the previous ones after, so no other case
// inherits them. at::Context::setSDPUse{Flash,MemEfficient,Math,CuDNN} and userEnabled{Flash,MemEfficient,Math,
// CuDNN}SDP() (aten/src/ATen/Context.h, every PyTorch talklab supports).
class SdpBackendScope {
 public:
  explicit SdpBackendScope(const SdpBackends& enabled) : saved_(current()) { apply(enabled); }
  ~SdpBackendScope() { apply(saved_); }
  SdpBackendScope(const SdpBackendScope&) = delete;
  SdpBackendScope& operator=(const SdpBackendScope&) = delete;

 private:
  static SdpBackends current() {
    const at::Context& c = at::globalContext();
    return {c.userEnabledFlashSDP(), c.userEnabledMemEfficientSDP(), c.userEnabledMathSDP(), c.userEnabledCuDNNSDP()};
  }
  static void apply(const SdpBackends& b) {
    at::Context& c = at::globalContext();
    c.setSDPUseFlash(b.flash);
    c.setSDPUseMemEfficient(b.efficient);
    c.setSDPUseMath(b.math);
    c.setSDPUseCuDNN(b.cudnn);
  }
  SdpBackends saved_;
};

class TorchCudaCase : public Case {
 public:
  explicit TorchCudaCase(const CaseContext& ctx) : spec_(mask_spec_of(ctx.params)), seed_(ctx.seed) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  void setup() override {
    stream_.emplace(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, kDevice));
    const c10::cuda::CUDAStreamGuard guard(*stream_);
    in_.fill(seed_);
    const attn::AttnShape& s = in_.shape;
    const at::TensorOptions host = at::TensorOptions().dtype(torch_dtype(in_.dtype));
    on_ = host.device(at::Device(at::kCUDA, kDevice));
    q_ = at::from_blob(in_.q.data(), {s.B, s.H, s.S_q, s.D}, host).to(on_.device());
    k_ = at::from_blob(in_.k.data(), {s.B, s.H_kv, s.S_kv, s.D}, host).to(on_.device());
    v_ = at::from_blob(in_.v.data(), {s.B, s.H_kv, s.S_kv, s.D}, host).to(on_.device());
    prepare();
    stream_->synchronize();
  }
  // LibTorch allocates a fresh output every run: poisoning means dropping the last one. The peak is reset here,
  // after setup, so it covers the checked run (with the inputs it reads) and nothing before it.
  void poison() override {
    out_ = at::Tensor();
    stream_->synchronize();
    c10::cuda::CUDACachingAllocator::resetPeakStats(kDevice);
  }
  void run() override {
    const c10::cuda::CUDAStreamGuard guard(*stream_);
    compute();
  }
  Accuracy check() override {
    stream_->synchronize();
    // allocated_bytes[0]: StatType::AGGREGATE, all pools.
    peak_bytes_ = c10::cuda::CUDACachingAllocator::getDeviceStats(kDevice).allocated_bytes[0].peak;
    const c10::cuda::CUDAStreamGuard guard(*stream_);
    const at::Tensor out = out_.cpu().contiguous();
    return check_output(in_, spec_, out.data_ptr(), seed_, torch_tolerance(in_.dtype));
  }
  void* stream() override { return stream_ ? static_cast<void*>(stream_->stream()) : nullptr; }
  std::optional<int64_t> device_peak_bytes() override { return peak_bytes_; }

 protected:
  virtual void prepare() = 0;  // on the case's stream, after the inputs are on the device
  virtual void compute() = 0;  // the timed work, on the case's stream
  std::pair<at::Tensor, at::Tensor> kv_for_all_heads() const { return repeat_kv(k_, v_, in_.shape.H / in_.shape.H_kv); }
  attn::MaskSpec spec_;
  uint64_t seed_;
  Inputs in_;
  at::TensorOptions on_;
  std::optional<c10::cuda::CUDAStream> stream_;  // no default constructor: made in setup
  at::Tensor q_, k_, v_, out_;
  std::optional<int64_t> peak_bytes_;
};

class EagerCudaCase final : public TorchCudaCase {
 public:
  using TorchCudaCase::TorchCudaCase;

 private:
  void prepare() override {
    const int64_t S = in_.shape.S_q;
    if (spec_.mask != attn::MaskKind::full) hidden_ = visible_mask(spec_, S, on_).logical_not();
    if (spec_.score == attn::ScoreKind::alibi) bias_ = alibi_bias(spec_, in_.shape.H, S, on_).to(torch_dtype(in_.dtype));
  }
  void compute() override {
    const auto [k, v] = kv_for_all_heads();
    at::Tensor s = at::matmul(q_, k.transpose(-2, -1)).mul_(1.0 / std::sqrt(double(in_.shape.D)));
    if (spec_.score == attn::ScoreKind::softcap) s = at::tanh(s.div_(spec_.softcap)).mul_(spec_.softcap);
    if (spec_.score == attn::ScoreKind::alibi) s.add_(bias_);
    if (hidden_.defined()) s.masked_fill_(hidden_, -kInf);
    out_ = at::matmul(at::softmax(s, -1), v);
  }
  at::Tensor hidden_, bias_;
};

class SdpaCudaCase final : public TorchCudaCase {
 public:
  using TorchCudaCase::TorchCudaCase;
  void add_labels(Labels& out) override {
    out.emplace_back("sdpa_backend", sdpa_backend_name(backend_));
    if (in_.shape.H != in_.shape.H_kv) out.emplace_back("gqa", repeat_kv_ ? "repeat_kv" : "enable_gqa");
  }

 private:
  void prepare() override {
    const int64_t S = in_.shape.S_q;
    is_causal_ = spec_.mask == attn::MaskKind::causal && spec_.score == attn::ScoreKind::none;
    if (spec_.score == attn::ScoreKind::alibi) {
      mask_ = alibi_bias(spec_, in_.shape.H, S, on_).masked_fill_(visible_mask(spec_, S, on_).logical_not(), -kInf);
      mask_ = mask_.to(torch_dtype(in_.dtype));
    } else if (!is_causal_ && spec_.mask != attn::MaskKind::full) {
      mask_ = visible_mask(spec_, S, on_);
    }
    // Flash takes no mask tensor and only 16-bit inputs; everything else gets the fused kernels that take a
    // dense mask, never math (the unfused S x S path torch_eager_cuda already measures).
    if (!mask_.defined() && in_.dtype == attn::DType::bf16) {
      enabled_.flash = true;
    } else {
      enabled_.efficient = true;
      enabled_.cudnn = true;
    }
    const SdpBackendScope scope(enabled_);
    std::string why_not_gqa;
    if (in_.shape.H != in_.shape.H_kv) {
      try {
        backend_ = sdpa_backend(q_, k_, v_, mask(), is_causal_);
      } catch (const c10::Error& e) {
        why_not_gqa = e.what_without_backtrace();
      }
      repeat_kv_ = backend_ < 0;
    }
    if (in_.shape.H == in_.shape.H_kv || repeat_kv_) {
      const auto [k, v] = keys_values();
      try {
        backend_ = sdpa_backend(q_, k, v, mask(), is_causal_);
      } catch (const c10::Error& e) {
        throw std::runtime_error(fmt::format("none of the enabled SDPA backends ({}) can run this case: {}{}",
                                             enabled_names(enabled_), e.what_without_backtrace(),
                                             why_not_gqa.empty() ? "" : " (with enable_gqa: " + why_not_gqa + ")"));
      }
    }
    if (backend_ < 0) {
      throw std::runtime_error(fmt::format("at::_fused_sdp_choice found no backend among ({}): {}",
                                           enabled_names(enabled_), sdpa_backend_name(backend_)));
    }
  }
  void compute() override {
    const SdpBackendScope scope(enabled_);
    const auto [k, v] = keys_values();
    out_ = sdpa(q_, k, v, mask(), is_causal_);
  }
  // K and V as SDPA gets them: the key/value heads (enable_gqa), or repeated where no enabled backend takes GQA.
  std::pair<at::Tensor, at::Tensor> keys_values() const {
    return repeat_kv_ ? kv_for_all_heads() : std::pair<at::Tensor, at::Tensor>{k_, v_};
  }
  std::optional<at::Tensor> mask() const { return mask_.defined() ? std::optional<at::Tensor>(mask_) : std::nullopt; }
  bool is_causal_ = false;
  bool repeat_kv_ = false;
  at::Tensor mask_;
  SdpBackends enabled_;
  int64_t backend_ = -1;
};

#endif  // TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA

}  // namespace

double torch_cuda_peak_estimate(const Params& p, bool sdpa) {
  const attn::AttnShape s = shape_of(p);
  const double e = double(element_bytes(dtype_of(p)));
  const double ss = double(s.S_q) * double(s.S_kv);
  const double heads_ss = double(s.H) * ss;
  const std::string& mask = p.str("mask");
  // Q and O over the query heads, K and V over the key/value heads, and K and V repeated for grouped queries.
  double bytes = e * double(s.B) * double(s.S_q) * double(s.D) * double(2 * s.H + 2 * s.H_kv);
  if (s.H != s.H_kv) bytes += 2.0 * e * double(s.B * s.H) * double(s.S_kv) * double(s.D);
  if (mask == "causal+alibi") bytes += heads_ss * (4.0 + 1.0 + e);  // float32 bias, the bool mask, the cast
  if (sdpa) {
    // A dense mask: (S, S) bool and SDPA's additive copy of it in the input dtype, plus the bool of its negation.
    if (mask != "full" && mask != "causal" && mask != "causal+softcap") bytes += ss * (2.0 + e);
  } else {
    // Scores, the softmax output and one temporary, per (b, h); the (S, S) mask of hidden keys.
    bytes += 3.0 * double(s.B) * heads_ss * e + 2.0 * ss;
  }
  return bytes;
}

std::string torch_cuda_memory_skip(const Params& p, bool sdpa, int64_t device_bytes) {
  if (device_bytes <= 0) return "";
  const double need = torch_cuda_peak_estimate(p, sdpa);
  if (need > 0.9 * double(device_bytes)) {
    return fmt::format("needs about {:.1f} GiB of device memory for its S x S tensors, more than 90% of the "
                       "device's {:.1f} GiB",
                       need / double(1 << 30), double(device_bytes) / double(1 << 30));
  }
  return "";
}

std::vector<Implementation> torch_cuda_implementations() {
  Implementation eager;
  eager.name = "torch_eager_cuda";
  eager.provider = Provider::pytorch_eager;
  eager.device = Device::cuda;
  eager.description = "LibTorch on CUDA: S x S scores, mask, softmax, matmul";
  eager.skip = [](const Params& p) { return torch_cuda_memory_skip(p, false, gpu_memory_bytes()); };

  Implementation sdpa;
  sdpa.name = "torch_sdpa_cuda";
  sdpa.provider = Provider::pytorch_eager;
  sdpa.device = Device::cuda;
  sdpa.description =
      "LibTorch scaled_dot_product_attention on CUDA: flash only without a mask tensor (bf16), memory-efficient or "
      "cuDNN with a dense mask; enable_gqa where a backend takes it; label sdpa_backend";
  sdpa.skip = sdpa_skip;

#if TALKLAB_TORCH_CUDA && TALKLAB_HAVE_CUDA
  eager.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<EagerCudaCase>(ctx); };
  sdpa.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<SdpaCudaCase>(ctx); };
#elif TALKLAB_TORCH_CUDA
  eager.missing_reason = "this build has no CUDA code, and CUDA cases are timed with CUDA events (configure with "
                         "-DTALKLAB_CUDA=ON where nvcc is installed)";
  sdpa.missing_reason = eager.missing_reason;
#else
  eager.missing_reason = "LibTorch was built without CUDA";
  sdpa.missing_reason = eager.missing_reason;
#endif
  return {std::move(eager), std::move(sdpa)};
}

}  // namespace talklab::experiments::attention
