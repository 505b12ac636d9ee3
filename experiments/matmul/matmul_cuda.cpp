// The matmul recipes on CUDA (device=cuda), each gated like its CPU counterpart by check_product against the
// float64 product of the UNQUANTIZED randn inputs, with the same SQNR floors:
//   cublaslt_fp32, cublaslt_tf32, cublaslt_bf16, cublaslt_fp16
//                  cuBLASLt (kernels/cuda/matmul/cublaslt_matmul.h) on the inputs rounded to the type
//   cublaslt_fp8_tensorwise, cublaslt_fp8_rowwise, cublaslt_fp8_blockwise
//                  cuBLASLt fp8 e4m3 with tensorwise, rowwise (OUTER_VEC_32F) or 1x128 / 128x128 (VEC128_32F /
//                  BLK128x128_32F) scales. Both operands are quantized on the host by the CPU codecs
//                  (kernels/cpu/quant/scaling.h), exactly as the emulated CPU recipes do, and uploaded, so the
//                  GPU multiplies the same codes and scales. The timed run is the product only; counter
//                  act_quant_s is a GPU quantization of A (kernels/cuda/matmul/fp8_quant.h) timed on the
//                  case's stream, and the check also requires that quantization to match the CPU codec bit for bit.
//   w4a16_cuda     ours (kernels/cuda/matmul/w4a16.h): int4 weights, fp32 scale per 128 along K (the CPU
//                  int4_w4a16's codes; the CPU packing stores the scales in bf16), bf16 activations, M = 1..16.
// Runs where a GPU is: skipped with the probe's reason without one, with cuBLASLt's reason where a scale mode
// is not supported (rowwise and blockwise need compute capability 9.0 and CUDA 12.9+).
//   bench --filter 'matmul/(cublaslt|w4a16_cuda)' --device cuda --profile gpu
#include "experiments/matmul/matmul_cuda.h"

#include <fmt/format.h>

#include "experiments/matmul/problem.h"

#if TALKLAB_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/cuda/device.h"
#include "harness/cuda/memory.h"
#include "harness/cuda/timer.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/fp16.h"
#include "kernels/cpu/quant/scaling.h"
#include "kernels/cuda/matmul/cublaslt_matmul.h"
#include "kernels/cuda/matmul/fp8_quant.h"
#include "kernels/cuda/matmul/w4a16.h"
#endif

namespace talklab::experiments::matmul {
namespace {


constexpr int kW4a16Group = 128;  // = cuda::kW4a16Group; here too so the skip predicate builds without CUDA
constexpr int kW4a16MaxM = 16;
constexpr int64_t kFp8Multiple = 16;  // cuBLASLt's fp8 kernels: M, N, K multiples of 16
constexpr int64_t kFp8Block = 128;

enum class LtRecipe { fp32, tf32, bf16, fp16, fp8_tensorwise, fp8_rowwise, fp8_blockwise };

struct LtRecipeInfo {
  LtRecipe recipe;
  const char* name;
  const char* description;
  double in_bytes, out_bytes;
  const char* peak;  // the CUDA roofline's key (experiments/roofline/ceilings_cuda.cpp)
  RecipeTolerance tolerance;
};

constexpr LtRecipeInfo kLtRecipes[] = {
    {LtRecipe::fp32, "cublaslt_fp32", "cuBLASLt fp32 (CUDA cores, no tf32)", 4, 4, "fp32", kFp32Tolerance},
    {LtRecipe::tf32, "cublaslt_tf32", "cuBLASLt fp32 data on tf32 tensor cores", 4, 4, "tf32", kTf32Tolerance},
    {LtRecipe::bf16, "cublaslt_bf16", "cuBLASLt bf16 in, bf16 out, fp32 accumulation", 2, 2, "bf16", kBf16Tolerance},
    {LtRecipe::fp16, "cublaslt_fp16", "cuBLASLt fp16 in, fp16 out, fp32 accumulation", 2, 2, "fp16", kFp16Tolerance},
    {LtRecipe::fp8_tensorwise, "cublaslt_fp8_tensorwise", "cuBLASLt fp8 e4m3, one scale per tensor, bf16 out", 1, 2,
     "fp8_e4m3", kFp8Tolerance},
    {LtRecipe::fp8_rowwise, "cublaslt_fp8_rowwise",
     "cuBLASLt fp8 e4m3, per-row (A) / per-column (B) scales (OUTER_VEC_32F), bf16 out", 1, 2, "fp8_e4m3",
     kFp8Tolerance},
    {LtRecipe::fp8_blockwise, "cublaslt_fp8_blockwise",
     "cuBLASLt fp8 e4m3, 1x128 (A) / 128x128 (B) scales (VEC128_32F / BLK128x128_32F), bf16 out", 1, 2,
     "fp8_e4m3", kFp8Tolerance},
};

bool is_fp8(LtRecipe r) {
  return r == LtRecipe::fp8_tensorwise || r == LtRecipe::fp8_rowwise || r == LtRecipe::fp8_blockwise;
}

// Device-independent reasons first (the same wording as the CPU recipes), so a dry run lists them anywhere.
std::string lt_shape_skip(LtRecipe r, const Params& p) {
  const Shape s = shape_of(p);
  if (!is_fp8(r)) return "";
  if (s.M % kFp8Multiple != 0 || s.N % kFp8Multiple != 0 || s.K % kFp8Multiple != 0) {
    return fmt::format("cuBLASLt fp8 needs M, N and K multiples of 16; M = {}, N = {}, K = {}", s.M, s.N, s.K);
  }
  if (r == LtRecipe::fp8_blockwise && s.K % kFp8Block != 0) {
    return fmt::format("fp8_blockwise needs K a multiple of 128 (1x128 / 128x128 blocks); K = {}", s.K);
  }
  return "";
}

std::string w4a16_shape_skip(const Params& p) {
  const Shape s = shape_of(p);
  if (s.M > kW4a16MaxM) return fmt::format("w4a16_cuda is a decode kernel for M = 1..{}; M = {}", kW4a16MaxM, s.M);
  if (s.K % kW4a16Group != 0) return fmt::format("w4a16_cuda needs K a multiple of its group {}; K = {}", kW4a16Group, s.K);
  return "";
}

#if TALKLAB_HAVE_CUDA
namespace q = talklab::cpu::quant;

cuda::LtDtype lt_dtype(LtRecipe r) {
  switch (r) {
    case LtRecipe::fp32: return cuda::LtDtype::fp32;
    case LtRecipe::tf32: return cuda::LtDtype::tf32;
    case LtRecipe::bf16: return cuda::LtDtype::bf16;
    case LtRecipe::fp16: return cuda::LtDtype::fp16;
    default: return cuda::LtDtype::fp8_e4m3;
  }
}

cuda::LtScaling lt_scaling(LtRecipe r) {
  switch (r) {
    case LtRecipe::fp8_rowwise: return cuda::LtScaling::rowwise;
    case LtRecipe::fp8_blockwise: return cuda::LtScaling::blockwise;
    default: return cuda::LtScaling::tensorwise;
  }
}

// The CPU codec of a scaling (scaling.h), as the emulated CPU recipes call it.
q::Quantized quantize_fp8(cuda::LtScaling scaling, const float* x, q::Operand op, int64_t rows, int64_t cols) {
  constexpr q::ElemType kE4m3 = q::ElemType::fp8_e4m3fn;
  switch (scaling) {
    case cuda::LtScaling::rowwise: return q::quantize_rowwise(x, op, rows, cols, kE4m3);
    case cuda::LtScaling::blockwise: return q::quantize_blockwise(x, op, rows, cols, kE4m3);
    case cuda::LtScaling::tensorwise: break;
  }
  return q::quantize_tensorwise(x, op, rows, cols, kE4m3);
}

// (rows x cols) row-major -> (cols x rows) row-major, i.e. the column-major (rows x cols) cuBLASLt reads for B.
template <typename T>
std::vector<T> transpose(const T* x, int64_t rows, int64_t cols) {
  std::vector<T> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[static_cast<size_t>(c * rows + r)] = x[r * cols + c];
  }
  return out;
}

// A stream of the case's own (a blocking stream, so the synchronous DeviceBuffer copies order with it).
class Stream {
 public:
  Stream() {
    cudaStream_t s = nullptr;
    cuda::check(cudaStreamCreate(&s), "cudaStreamCreate");
    stream_ = s;
  }
  ~Stream() {
    if (stream_) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  void* get() const { return stream_; }
  void synchronize() const { cuda::check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)), "cudaStreamSynchronize"); }

 private:
  void* stream_ = nullptr;
};

// Median seconds of one call of launch() on the stream, by CUDA events (hot: what the run before left in L2).
double median_event_seconds(void* stream, const std::function<void()>& launch, int samples) {
  cuda::EventTimer timer(stream, cuda::CacheMode::hot, 0);
  timer.sample(launch);  // warm-up
  std::vector<double> s;
  for (int i = 0; i < samples; ++i) s.push_back(timer.sample(launch));
  std::nth_element(s.begin(), s.begin() + s.size() / 2, s.end());
  return s[s.size() / 2];
}

static_assert(kW4a16Group == cuda::kW4a16Group && kW4a16MaxM == cuda::kW4a16MaxM);

class LtCase final : public Case {
 public:
  LtCase(const CaseContext& ctx, const LtRecipeInfo& info) : info_(info), seed_(ctx.seed) { in_.s = shape_of(ctx.params); }
  void* stream() override { return stream_.get(); }

  void setup() override {
    in_.fill(seed_);
    const Shape& s = in_.s;
    mm_ = std::make_unique<cuda::LtMatmul>(lt_dtype(info_.recipe), s.M, s.N, s.K, stream_.get(), lt_scaling(info_.recipe));
    switch (info_.recipe) {
      case LtRecipe::fp32:
      case LtRecipe::tf32: mm_->upload(in_.a.data(), transpose(in_.b.data(), s.K, s.N).data()); break;
      case LtRecipe::bf16: upload_16bit(q::float_to_bf16); break;
      case LtRecipe::fp16: upload_16bit(q::float_to_fp16); break;
      default: setup_fp8(); break;
    }
  }
  void poison() override { mm_->poison_output(); }
  void run() override { mm_->run(); }
  Accuracy check() override {
    std::vector<float> c(static_cast<size_t>(in_.s.M * in_.s.N));
    mm_->download_output(c.data());
    Accuracy a = check_product(in_, c.data(), false, info_.tolerance, seed_);
    if (a.passed && is_fp8(info_.recipe)) {
      const std::string mismatch = check_act_quant();
      if (!mismatch.empty()) {
        a.passed = false;
        a.error = mismatch;
      }
    }
    return a;
  }
  void add_counters(Counters& out) override {
    out.emplace_back("algorithm_id", double(mm_->algorithm_id()));
    out.emplace_back("workspace_bytes", double(mm_->workspace_bytes()));
    if (is_fp8(info_.recipe)) {
      constexpr int kSamples = 11;
      out.emplace_back("act_quant_s", median_event_seconds(stream_.get(), [&] { quantize_activations(); }, kSamples));
    }
  }

 private:
  template <typename Convert>
  void upload_16bit(Convert convert) {
    const Shape& s = in_.s;
    std::vector<uint16_t> a(in_.a.size()), b(in_.b.size());
    for (size_t i = 0; i < a.size(); ++i) a[i] = convert(in_.a[i]);
    for (size_t i = 0; i < b.size(); ++i) b[i] = convert(in_.b[i]);
    mm_->upload(a.data(), transpose(b.data(), s.K, s.N).data());
  }

  void setup_fp8() {
    const Shape& s = in_.s;
    const cuda::LtScaling scaling = lt_scaling(info_.recipe);
    a_q_ = quantize_fp8(scaling, in_.a.data(), q::Operand::A, s.M, s.K);
    const q::Quantized b_q = quantize_fp8(scaling, in_.b.data(), q::Operand::B, s.K, s.N);
    mm_->upload(a_q_.codes.data(), transpose(b_q.codes.data(), s.K, s.N).data(), a_q_.scales.data(), b_q.scales.data());
    // The GPU quantizer's buffers: A in fp32 as a layer receives it, its codes and scales, the amax word.
    a_dev_ = cuda::DeviceBuffer(in_.a.size() * sizeof(float));
    a_dev_.copy_from_host(in_.a.data(), a_dev_.bytes());
    codes_dev_ = cuda::DeviceBuffer(a_q_.codes.size());
    scales_dev_ = cuda::DeviceBuffer(a_q_.scales.size() * sizeof(float));
    amax_dev_ = cuda::DeviceBuffer(sizeof(uint32_t));
  }

  void quantize_activations() {
    cuda::launch_quantize_fp8(static_cast<uint8_t*>(codes_dev_.data()), static_cast<float*>(scales_dev_.data()),
                              static_cast<const float*>(a_dev_.data()), int(in_.s.M), int(in_.s.K),
                              lt_scaling(info_.recipe), static_cast<uint32_t*>(amax_dev_.data()), stream_.get());
  }

  // The GPU quantizer against the CPU codec the product's A came from: equal codes and scales, or why not.
  std::string check_act_quant() {
    codes_dev_.fill_bytes(0xff);
    quantize_activations();
    stream_.synchronize();
    std::vector<uint8_t> codes(a_q_.codes.size());
    std::vector<float> scales(a_q_.scales.size());
    codes_dev_.copy_to_host(codes.data(), codes.size());
    scales_dev_.copy_to_host(scales.data(), scales.size() * sizeof(float));
    for (size_t i = 0; i < scales.size(); ++i) {
      if (scales[i] != a_q_.scales[i]) {
        return fmt::format("GPU activation quantization: scale {} is {} on the GPU, {} on the CPU codec", i, scales[i],
                           a_q_.scales[i]);
      }
    }
    for (size_t i = 0; i < codes.size(); ++i) {
      if (codes[i] != a_q_.codes[i]) {
        return fmt::format("GPU activation quantization: code of A[{}][{}] is 0x{:02x} on the GPU, 0x{:02x} on the "
                           "CPU codec", i / size_t(in_.s.K), i % size_t(in_.s.K), codes[i], a_q_.codes[i]);
      }
    }
    return "";
  }

  const LtRecipeInfo& info_;
  uint64_t seed_;
  Inputs in_;
  Stream stream_;
  std::unique_ptr<cuda::LtMatmul> mm_;
  q::Quantized a_q_;
  cuda::DeviceBuffer a_dev_, codes_dev_, scales_dev_, amax_dev_;
};

// A decode step reads each layer's weights once, from DRAM. One layer's int4 weights (31 MB at 4096 x 14336) fit in
// an H100's 50 MB L2, so back-to-back runs on one copy would read from L2: the case cycles through copies that
// together exceed twice the L2 (as the CPU int4_w4a16 does with its L3), when one copy is at least 1/16 of that.
constexpr int64_t kColdOverL2 = 2;

class W4a16Case final : public Case {
 public:
  explicit W4a16Case(const CaseContext& ctx) : seed_(ctx.seed) { in_.s = shape_of(ctx.params); }
  void* stream() override { return stream_.get(); }

  void setup() override {
    in_.fill(seed_);
    const Shape& s = in_.s;
    const int M = int(s.M), N = int(s.N), K = int(s.K);
    const q::Quantized w = q::quantize_groupwise(in_.b.data(), q::Operand::B, s.K, s.N, kW4a16Group, q::ElemType::int4);
    std::vector<uint8_t> packed(cuda::w4a16_packed_bytes(N, K));
    cuda::w4a16_pack(packed.data(), w.codes.data(), N, K);
    std::vector<uint16_t> a(in_.a.size());
    for (size_t i = 0; i < a.size(); ++i) a[i] = q::float_to_bf16(in_.a[i]);

    const size_t copy_bytes = packed.size() + w.scales.size() * sizeof(float);
    const cuda::DeviceInfo device = cuda::probe_device();
    const size_t cold_bytes = size_t(kColdOverL2 * std::max<int64_t>(device.l2_bytes, 1));
    size_t copies = 1;
    if (copy_bytes * 16 >= cold_bytes && copy_bytes < cold_bytes) copies = (cold_bytes + copy_bytes - 1) / copy_bytes + 1;
    for (size_t i = 0; i < copies; ++i) {
      weights_.emplace_back(packed.size());
      weights_.back().copy_from_host(packed.data(), packed.size());
      scales_.emplace_back(w.scales.size() * sizeof(float));
      scales_.back().copy_from_host(w.scales.data(), w.scales.size() * sizeof(float));
    }
    weight_bytes_ = double(copy_bytes);
    a_ = cuda::DeviceBuffer(a.size() * sizeof(uint16_t));
    a_.copy_from_host(a.data(), a_.bytes());
    c_ = cuda::DeviceBuffer(size_t(M) * size_t(N) * sizeof(float));
  }
  void poison() override {
    cuda::check(cudaMemsetAsync(c_.data(), 0xff, c_.bytes(), static_cast<cudaStream_t>(stream_.get())),
                "cudaMemsetAsync(C)");
  }
  void run() override {
    const size_t i = next_++ % weights_.size();
    cuda::launch_w4a16(static_cast<float*>(c_.data()), static_cast<const uint16_t*>(a_.data()), weights_[i].data(),
                       static_cast<const float*>(scales_[i].data()), int(in_.s.M), int(in_.s.N), int(in_.s.K),
                       stream_.get());
  }
  Accuracy check() override {
    stream_.synchronize();
    std::vector<float> c(size_t(in_.s.M * in_.s.N));
    c_.copy_to_host(c.data(), c.size() * sizeof(float));
    return check_product(in_, c.data(), false, kInt4Tolerance, seed_);
  }
  void add_counters(Counters& out) override {
    out.emplace_back("weight_bytes", weight_bytes_);
    out.emplace_back("weight_copies", double(weights_.size()));
  }

 private:
  uint64_t seed_;
  Inputs in_;
  Stream stream_;
  std::vector<cuda::DeviceBuffer> weights_, scales_;  // identical copies, cycled through (kColdOverL2)
  cuda::DeviceBuffer a_, c_;
  double weight_bytes_ = 0;
  size_t next_ = 0;
};
#endif

}  // namespace

std::vector<Implementation> cuda_matmul_implementations() {
  const std::string missing = "this build has no CUDA code (configure with -DTALKLAB_CUDA=ON where nvcc is installed)";
  std::vector<Implementation> out;
  for (const LtRecipeInfo& info : kLtRecipes) {
    Implementation impl;
    impl.name = info.name;
    impl.provider = Provider::vendor_library;  // cuBLASLt, called directly
    impl.device = Device::cuda;
    impl.description = info.description;
    impl.missing_reason = missing;
    impl.work = [in = info.in_bytes, o = info.out_bytes, peak = info.peak](const CaseContext& ctx) {
      return recipe_work(ctx, in, in, o, peak);
    };
#if TALKLAB_HAVE_CUDA
    impl.skip = [r = info.recipe](const Params& p) -> std::string {
      const cuda::DeviceInfo d = cuda::probe_device();
      if (!d.available) return d.reason;
      if (std::string why = lt_shape_skip(r, p); !why.empty()) return why;
      const Shape s = shape_of(p);
      return cuda::lt_unsupported_reason(lt_dtype(r), lt_scaling(r), s.M, s.N, s.K);
    };
    impl.make = [&info](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<LtCase>(ctx, info); };
#else
    impl.skip = [r = info.recipe](const Params& p) { return lt_shape_skip(r, p); };
#endif
    out.push_back(std::move(impl));
  }

  Implementation w4a16;
  w4a16.name = "w4a16_cuda";
  w4a16.device = Device::cuda;
  w4a16.description = "ours: int4 weights (fp32 scale per 128 along K) x bf16 activations, tensor cores, M <= 16";
  w4a16.missing_reason = missing;
  w4a16.work = [](const CaseContext& ctx) { return recipe_work(ctx, 2, 0.5 + 4.0 / kW4a16Group, 4, "bf16"); };
#if TALKLAB_HAVE_CUDA
  w4a16.skip = [](const Params& p) -> std::string {
    const cuda::DeviceInfo d = cuda::probe_device();
    if (!d.available) return d.reason;
    if (std::string why = w4a16_shape_skip(p); !why.empty()) return why;
    if (d.cc_major < 9) {
      return fmt::format("w4a16_cuda is built for sm_90 (CMAKE_CUDA_ARCHITECTURES); {} is {}.{}", d.name, d.cc_major,
                         d.cc_minor);
    }
    return "";
  };
  w4a16.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<W4a16Case>(ctx); };
#else
  w4a16.skip = w4a16_shape_skip;
#endif
  out.push_back(std::move(w4a16));
  return out;
}

}  // namespace talklab::experiments::matmul
