// The PTX instructions our kernels are built from, each wrapped once (flash_cuda, w4a16), plus the block's dynamic
// shared memory. Compiled by nvcc these are inline PTX; in the SIMT emulator's build (TALKLAB_SIMT, kernels/simt)
// the same calls run on the CPU, so the kernels' fragment and address arithmetic is tested without a GPU.
// Fragment layouts of mma.m16n8k16 (PTX ISA, "Matrix fragments for mma.m16n8k16"), g = lane / 4, t = lane % 4:
//   A (16 x 16, row): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16 x 8, col):  b0 = (2t..2t+1, g), b1 = (2t+8.., g)
//   C (16 x 8, fp32): c0, c1 = (g, 2t), (g, 2t+1); c2, c3 = (g+8, 2t), (g+8, 2t+1)
// A pair of 16-bit elements in one register holds the smaller column (or row, for B) index in its low half.
#pragma once

#include <cstdint>


namespace talklab::cuda::ptx {

// The launch's dynamic shared memory (the third launch parameter), 128-byte aligned.
template <class T>
__device__ __forceinline__ T* dynamic_shared() {
#ifdef TALKLAB_SIMT
  return static_cast<T*>(::talklab::simt::dynamic_shared());
#else
  extern __shared__ __align__(128) unsigned char talklab_dynamic_shared[];
  return reinterpret_cast<T*>(talklab_dynamic_shared);
#endif
}

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without passing through registers; valid = false writes 16 zero bytes and reads nothing.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
#ifdef TALKLAB_SIMT
  ::talklab::simt::cp_async_16(dst, src, valid);
#else
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#ifdef TALKLAB_SIMT
  ::talklab::simt::cp_async_commit();
#else
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
// Waits until at most `kPending` of this thread's committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#ifdef TALKLAB_SIMT
  ::talklab::simt::cp_async_wait(kPending);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i receives matrix i:
// lane (g, t) gets elements (g, 2t) and (g, 2t+1).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
#ifdef TALKLAB_SIMT
  ::talklab::simt::ldmatrix_x4(r, address, false);
#else
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
#endif
}
// The same, each matrix transposed: lane (g, t) receives elements (2t, g) and (2t+1, g) of each.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
#ifdef TALKLAB_SIMT
  ::talklab::simt::ldmatrix_x4(r, address, true);
#else
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
#endif
}

// d += a * b on the tensor cores, fp32 accumulate; a, b bf16.
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef TALKLAB_SIMT
  ::talklab::simt::mma_m16n8k16(d, a, b0, b1, ::talklab::simt::MmaInput::bf16);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}
// The same with fp16 a, b.
__device__ __forceinline__ void mma_fp16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef TALKLAB_SIMT
  ::talklab::simt::mma_m16n8k16(d, a, b0, b1, ::talklab::simt::MmaInput::fp16);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

}  // namespace talklab::cuda::ptx
