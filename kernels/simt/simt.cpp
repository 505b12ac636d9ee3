// The SIMT emulator's engine (see simt.h): fibers, the block scheduler, barriers, warp collectives, the PTX
// instructions' data movement and cp.async groups.
#include "kernels/simt/simt.h"

#include <sys/mman.h>
#include <unistd.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace talklab::simt {
namespace {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr size_t kStackBytes = 256 * 1024;  // per fiber; a guard page below each catches an overflow
constexpr size_t kSmemAlign = 128;

// ---- context switching ------------------------------------------------------------------------------------------
// A switch happens at every barrier and collective (tens of millions in a flash_cuda test), so on x86-64 it is a
// few instructions: callee-saved registers, MXCSR and the x87 control word pushed on the old stack, stack pointers
// exchanged. glibc's swapcontext, the fallback elsewhere, also saves the signal mask with a system call each time,
// which made the emulator several times slower.
#if defined(__x86_64__)
extern "C" void talklab_simt_switch(void** save_sp, void* load_sp);
extern "C" void talklab_simt_trampoline();
extern "C" [[noreturn]] void talklab_simt_fiber_entry();
asm(R"(
  .text
  .globl talklab_simt_switch
  .type talklab_simt_switch, @function
talklab_simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size talklab_simt_switch, .-talklab_simt_switch

  .globl talklab_simt_trampoline
  .type talklab_simt_trampoline, @function
talklab_simt_trampoline:
  call talklab_simt_fiber_entry@PLT
  ud2
  .size talklab_simt_trampoline, .-talklab_simt_trampoline
)");

struct Context {
  void* sp = nullptr;
};
// A fresh fiber's stack as talklab_simt_switch expects to find it: control words, six zero registers, and the
// trampoline as the return address; after the `ret` the stack pointer is 16-byte aligned, as at a call.
void make_context(Context& c, char* stack_top) {
  auto* sp = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(stack_top) & ~uintptr_t(15)) - 64 - 16);
  sp[0] = 0x037Full << 32 | 0x1F80u;  // MXCSR default (all exceptions masked), x87 control word default
  for (int i = 1; i <= 6; ++i) sp[i] = 0;
  sp[7] = reinterpret_cast<uint64_t>(&talklab_simt_trampoline);
  c.sp = sp;
}
void switch_context(Context& from, Context& to) { talklab_simt_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc{};
};
extern "C" [[noreturn]] void talklab_simt_fiber_entry();
void make_context(Context& c, char* stack_top) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack_top - kStackBytes;
  c.uc.uc_stack.ss_size = kStackBytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, talklab_simt_fiber_entry, 0);
}
void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

enum class Op { sync_warp, shfl_xor, ballot, ldmatrix, ldmatrix_trans, mma_bf16, mma_fp16 };

const char* op_name(Op op) {
  switch (op) {
    case Op::sync_warp: return "__syncwarp";
    case Op::shfl_xor: return "__shfl_xor_sync";
    case Op::ballot: return "a vote (__any_sync / __all_sync / __ballot_sync)";
    case Op::ldmatrix: return "ldmatrix.x4";
    case Op::ldmatrix_trans: return "ldmatrix.x4.trans";
    case Op::mma_bf16: return "mma.m16n8k16 (bf16)";
    case Op::mma_fp16: return "mma.m16n8k16 (fp16)";
  }
  return "?";
}

struct AsyncCopy {
  uint32_t dst;
  const void* src;
  bool valid;
};

struct Fiber {
  Context context;
  ThreadContext indices;
  int linear = 0;  // threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
  bool done = false;
  const char* waiting_in = nullptr;  // for deadlock reports
  std::vector<AsyncCopy> copies;      // issued, not yet landed
  std::vector<size_t> group_ends;     // committed groups, as end indices into `copies`
  std::unordered_map<const void*, uint64_t> load_count;  // global loads issued so far, by site (when tracking)
};

// One warp-wide global load being assembled (coalescing stats): the lanes that executed it so far.
struct LoadGroup {
  const void* site = nullptr;
  int lanes = 0;
  std::vector<std::pair<uintptr_t, uint32_t>> accesses;  // (address, bytes); bytes 0 for a zero-filling cp.async
};

// One warp's rendezvous: each lane deposits its operands; the last to arrive computes every lane's result.
struct Warp {
  int arrived = 0;
  uint64_t generation = 0;
  Op op = Op::sync_warp;
  int parameter = 0;  // the shuffle's lane mask; must agree across lanes
  std::array<std::array<uint32_t, 12>, kWarpSize> in{};
  std::array<std::array<uint32_t, 4>, kWarpSize> out{};
};

class Stack {
 public:
  Stack() {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    bytes_ = kStackBytes + page;
    base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("simt: cannot map a fiber stack");
    mprotect(base_, page, PROT_NONE);  // the stack grows down into this page: a fault, not silent corruption
    top_ = static_cast<char*>(base_) + bytes_;
  }
  ~Stack() { munmap(base_, bytes_); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  char* top() const { return top_; }

 private:
  void* base_ = nullptr;
  char* top_ = nullptr;
  size_t bytes_ = 0;
};

struct Block {
  const char* kernel = "";
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  int live = 0;  // threads not yet returned
  int barrier_arrived = 0;
  uint64_t barrier_generation = 0;
  uint64_t progress = 0;  // bumped by every step any thread makes; a scheduler pass without one is a deadlock
  Fiber* current = nullptr;
  Context scheduler;
  unsigned char* smem = nullptr;
  size_t smem_bytes = 0;
  std::string error;
  bool copies_land_at_issue = false;  // cp.async: at the issue (earliest) or at the wait (latest); see Schedule
  std::map<std::tuple<int, const void*, uint64_t>, LoadGroup> load_groups;  // (warp, site, n-th) -> lanes so far
};

thread_local Block* g_block = nullptr;
thread_local SharedMemoryStats g_stats;
thread_local bool g_track_loads = false;
struct SiteStats {
  std::string file;
  unsigned line = 0;
  uint64_t requests = 0, sectors = 0, ideal_sectors = 0;
};
thread_local std::map<const void*, SiteStats> g_load_sites;  // by site identity (see site_key)
thread_local std::vector<std::unique_ptr<Stack>> g_stacks;

std::string describe(const Fiber& f) {
  const ThreadContext& c = f.indices;
  return "block (" + std::to_string(c.block_idx.x) + "," + std::to_string(c.block_idx.y) + "," +
         std::to_string(c.block_idx.z) + ") thread (" + std::to_string(c.thread_idx.x) + "," +
         std::to_string(c.thread_idx.y) + "," + std::to_string(c.thread_idx.z) + ")";
}

Block& block() {
  if (g_block == nullptr || g_block->current == nullptr) {
    throw std::logic_error("simt: a device built-in was called outside a kernel launch");
  }
  return *g_block;
}

[[noreturn]] void fail(const std::string& what) {
  Block& b = block();
  throw std::runtime_error(std::string(b.kernel) + ", " + describe(*b.current) + ": " + what);
}

void yield() {
  Block& b = block();
  Fiber* self = b.current;
  switch_context(self->context, b.scheduler);
}

}  // namespace
}  // namespace talklab::simt

// Where every fiber starts (from the trampoline): runs the kernel body, then hands control back for good.
extern "C" void talklab_simt_fiber_entry() {
  using namespace talklab::simt;
  Block& b = *g_block;
  Fiber* self = b.current;
  try {
    (*b.body)();
  } catch (const std::exception& e) {
    if (b.error.empty()) b.error = e.what();
  } catch (...) {
    if (b.error.empty()) b.error = std::string(b.kernel) + ": a thread threw a non-standard exception";
  }
  self->done = true;
  --b.live;
  ++b.progress;
  // A barrier the remaining threads already all wait at completes now (threads that returned do not count).
  if (b.barrier_arrived > 0 && b.barrier_arrived == b.live) {
    b.barrier_arrived = 0;
    ++b.barrier_generation;
  }
  Context dead;  // this fiber is never resumed
  switch_context(dead, b.scheduler);
  __builtin_unreachable();
}

namespace talklab::simt {
namespace {

// ---- shared memory ---------------------------------------------------------------------------------------------

// `lane`: the lane that gave the address, when it is not the calling thread (a collective's operands).
unsigned char* smem_at(uint32_t offset, size_t bytes, const char* what, int lane = -1) {
  Block& b = block();
  auto who = [&] { return lane < 0 ? std::string(what) : std::string(what) + " of lane " + std::to_string(lane); };
  if (size_t(offset) + bytes > b.smem_bytes) {
    fail(who() + " at shared offset " + std::to_string(offset) + " (+" + std::to_string(bytes) +
         " bytes) is outside the launch's " + std::to_string(b.smem_bytes) + " bytes of dynamic shared memory");
  }
  if (offset % 16 != 0) fail(who() + " at shared offset " + std::to_string(offset) + " is not 16-byte aligned");
  return b.smem + offset;
}

// ---- warp collectives ------------------------------------------------------------------------------------------

uint16_t half_of(uint32_t word, int e) { return static_cast<uint16_t>(e == 0 ? word & 0xffffu : word >> 16); }

double decode16(uint16_t bits, Op op) {
  if (op == Op::mma_bf16) {
    const uint32_t f = uint32_t(bits) << 16;
    float x;
    std::memcpy(&x, &f, sizeof x);
    return x;
  }
  const int exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0x1f) return mantissa ? std::nan("") : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(double(mantissa), -24);
  return sign * std::ldexp(double(mantissa + 1024), exponent - 25);
}

void compute_ldmatrix(Warp& w, bool transpose) {
  // Lanes 8m .. 8m+7 give the row addresses of matrix m; lane (g, t) = (lane / 4, lane % 4) receives, of each
  // matrix, elements (g, 2t) and (g, 2t+1), or transposed (2t, g) and (2t+1, g), the first in the low half.
  std::array<const uint16_t*, kWarpSize> rows{};
  for (int lane = 0; lane < kWarpSize; ++lane) {
    rows[lane] = reinterpret_cast<const uint16_t*>(smem_at(w.in[lane][0], 16, "ldmatrix row address", lane));
  }
  // Bank conflicts: each matrix's 8 rows are one 128-byte shared-memory access (a phase); rows in the same 16-byte
  // bank group (address / 16 mod 8) at different addresses serialize into extra wavefronts.
  for (int m = 0; m < 4; ++m) {
    std::array<std::array<uint32_t, 8>, 8> distinct{};  // per bank group, the distinct row addresses seen
    std::array<int, 8> count{};
    int worst = 1;
    for (int i = 0; i < 8; ++i) {
      const uint32_t address = w.in[size_t(8 * m + i)][0];
      const size_t group = (address / 16) % 8;
      auto& seen = distinct[group];
      if (std::find(seen.begin(), seen.begin() + count[group], address) != seen.begin() + count[group]) continue;
      seen[size_t(count[group]++)] = address;
      worst = std::max(worst, count[group]);
    }
    ++g_stats.ldmatrix_phases;
    g_stats.ldmatrix_extra_wavefronts += uint64_t(worst - 1);
  }
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int m = 0; m < 4; ++m) {
      uint16_t lo, hi;
      if (transpose) {
        lo = rows[8 * m + 2 * t][g];
        hi = rows[8 * m + 2 * t + 1][g];
      } else {
        lo = rows[8 * m + g][2 * t];
        hi = rows[8 * m + g][2 * t + 1];
      }
      w.out[lane][m] = uint32_t(lo) | uint32_t(hi) << 16;
    }
  }
}

void compute_mma(Warp& w) {
  // PTX ISA fragment layouts of mma.m16n8k16 (row.col), g = lane / 4, t = lane % 4, e = 0, 1:
  //   A: a0 (g, 2t+e), a1 (g+8, 2t+e), a2 (g, 2t+8+e), a3 (g+8, 2t+8+e); B: b0 (2t+e, g), b1 (2t+8+e, g);
  //   C, D: c0, c1 (g, 2t+e); c2, c3 (g+8, 2t+e).
  double A[16][16], B[16][8], C[16][8];
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int g = lane / 4, t = lane % 4;
    const auto& in = w.in[lane];
    for (int e = 0; e < 2; ++e) {
      A[g][2 * t + e] = decode16(half_of(in[0], e), w.op);
      A[g + 8][2 * t + e] = decode16(half_of(in[1], e), w.op);
      A[g][2 * t + 8 + e] = decode16(half_of(in[2], e), w.op);
      A[g + 8][2 * t + 8 + e] = decode16(half_of(in[3], e), w.op);
      B[2 * t + e][g] = decode16(half_of(in[4], e), w.op);
      B[2 * t + 8 + e][g] = decode16(half_of(in[5], e), w.op);
      float c0, c1;
      std::memcpy(&c0, &in[6 + e], sizeof c0);
      std::memcpy(&c1, &in[8 + e], sizeof c1);
      C[g][2 * t + e] = c0;
      C[g + 8][2 * t + e] = c1;
    }
  }
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int r = 0; r < 4; ++r) {
      const int row = g + 8 * (r / 2), col = 2 * t + r % 2;
      double d = C[row][col];
      for (int k = 0; k < 16; ++k) d += A[row][k] * B[k][col];
      const float f = static_cast<float>(d);
      std::memcpy(&w.out[lane][r], &f, sizeof f);
    }
  }
}

void compute(Warp& w) {
  switch (w.op) {
    case Op::sync_warp: return;
    case Op::shfl_xor:
      for (int lane = 0; lane < kWarpSize; ++lane) {
        const int src = lane ^ w.parameter;
        w.out[lane][0] = w.in[src][0];
        w.out[lane][1] = w.in[src][1];
      }
      return;
    case Op::ballot: {
      uint32_t bits = 0;
      for (int lane = 0; lane < kWarpSize; ++lane) bits |= (w.in[lane][0] & 1u) << lane;
      for (int lane = 0; lane < kWarpSize; ++lane) w.out[lane][0] = bits;
      return;
    }
    case Op::ldmatrix: return compute_ldmatrix(w, false);
    case Op::ldmatrix_trans: return compute_ldmatrix(w, true);
    case Op::mma_bf16:
    case Op::mma_fp16: return compute_mma(w);
  }
}

// Deposits this lane's operands, waits for the other 31 lanes, returns this lane's results.
const std::array<uint32_t, 4>& collective(Op op, unsigned mask, const uint32_t* in, int n_in, int parameter = 0) {
  Block& b = block();
  Fiber* self = b.current;
  if (mask != kFullMask) {
    fail(std::string(op_name(op)) + " with mask " + std::to_string(mask) + ": only full-warp masks are emulated");
  }
  if (b.fibers.size() % kWarpSize != 0) fail(std::string(op_name(op)) + " in a block that is not whole warps");
  const int warp_index = self->linear / kWarpSize, lane = self->linear % kWarpSize;
  Warp& w = b.warps[size_t(warp_index)];
  if (w.arrived > 0 && (w.op != op || w.parameter != parameter)) {
    fail(std::string("divergent warp ") + std::to_string(warp_index) + ": this lane calls " + op_name(op) +
         " while other lanes wait in " + op_name(w.op));
  }
  w.op = op;
  w.parameter = parameter;
  for (int i = 0; i < n_in; ++i) w.in[size_t(lane)][size_t(i)] = in[i];
  ++b.progress;
  if (++w.arrived == kWarpSize) {
    compute(w);
    w.arrived = 0;
    ++w.generation;
  } else {
    const uint64_t generation = w.generation;
    self->waiting_in = op_name(op);
    while (w.generation == generation) yield();
    self->waiting_in = nullptr;
  }
  return w.out[size_t(lane)];
}

void land_copies(Fiber& f, size_t count) {
  Block& b = block();
  for (size_t i = 0; i < count; ++i) {
    const AsyncCopy& c = f.copies[i];
    unsigned char* dst = b.smem + c.dst;  // checked when issued
    if (c.valid) {
      std::memcpy(dst, c.src, 16);
    } else {
      std::memset(dst, 0, 16);
    }
  }
  f.copies.erase(f.copies.begin(), f.copies.begin() + std::ptrdiff_t(count));
}

// Sectors a warp-wide load touches, against the fewest its distinct bytes could occupy.
void account(const LoadGroup& g) {
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;  // [begin, end)
  for (const auto& [address, bytes] : g.accesses)
    if (bytes > 0) ranges.emplace_back(address, address + bytes);
  if (ranges.empty()) return;
  std::sort(ranges.begin(), ranges.end());
  uint64_t distinct = 0, sectors = 0;
  uintptr_t covered = 0, last_sector = UINTPTR_MAX;
  for (const auto& [begin, end] : ranges) {
    const uintptr_t from = std::max(begin, covered);
    if (end > from) distinct += end - from;
    covered = std::max(covered, end);
    for (uintptr_t s = begin / 32; s <= (end - 1) / 32; ++s) {
      if (last_sector != UINTPTR_MAX && s <= last_sector) continue;
      ++sectors;
      last_sector = s;
    }
  }
  SiteStats& st = g_load_sites[g.site];
  ++st.requests;
  st.sectors += sectors;
  st.ideal_sectors += (distinct + 31) / 32;
}

void record_load(const void* site, const char* file, unsigned line, uintptr_t address, uint32_t bytes) {
  Block& b = block();
  Fiber& f = *b.current;
  SiteStats& st = g_load_sites[site];
  if (st.file.empty()) {
    st.file = file;
    st.line = line;
  }
  const uint64_t n = f.load_count[site]++;
  const auto key = std::make_tuple(f.linear / kWarpSize, site, n);
  LoadGroup& g = b.load_groups[key];
  g.site = site;
  g.accesses.emplace_back(address, bytes);
  if (++g.lanes == kWarpSize) {
    account(g);
    b.load_groups.erase(key);
  }
}

// Loads some lanes of a warp never executed (divergent sites) are accounted when the block ends.
void account_partial_loads(Block& b) {
  for (const auto& [key, g] : b.load_groups) account(g);
  b.load_groups.clear();
}

// Resets the block's state and makes one fiber per thread, each about to run the kernel body.
void start_block(Block& b, uint3 block_idx, dim3 grid, dim3 block_dim) {
  const size_t threads = size_t(block_dim.x) * block_dim.y * block_dim.z;
  std::memset(b.smem, 0xff, b.smem_bytes);  // unwritten shared memory reads as NaN
  b.fibers.assign(threads, Fiber{});
  b.warps.assign((threads + kWarpSize - 1) / kWarpSize, Warp{});
  b.live = int(threads);
  b.barrier_arrived = 0;
  size_t i = 0;
  for (unsigned tz = 0; tz < block_dim.z; ++tz)
    for (unsigned ty = 0; ty < block_dim.y; ++ty)
      for (unsigned tx = 0; tx < block_dim.x; ++tx, ++i) {
        Fiber& f = b.fibers[i];
        f.indices.thread_idx = uint3{tx, ty, tz};
        f.indices.block_idx = block_idx;
        f.indices.block_dim = block_dim;
        f.indices.grid_dim = grid;
        f.linear = int(i);
        make_context(f.context, g_stacks[i]->top());
      }
}

// The order threads run in between barriers, varied by block so that one launch exercises all three: lockstep
// (every thread in turn up to its next wait: warps advance together) and warp by warp, ascending or descending
// (each warp runs until it waits at __syncthreads or returns before the next warp starts: as far apart as the
// kernel's barriers allow). Shared-memory data a warp reads without the barrier that orders it after the writer
// then shows up as the 0xff poison, or as the writer's stale data, in at least one of them. cp.async data, which
// hardware may land anywhere between the issue and the wait, lands at the wait in the first two (a read before
// the wait sees stale data) and at the issue in the third (a copy issued into a buffer that a lagging warp still
// reads overwrites it under that warp).
enum class Schedule { lockstep = 0, warps_ascending = 1, warps_descending = 2 };

// Resumes fiber f once; rethrows the first error a thread reported.
void resume(Block& b, Fiber& f) {
  b.current = &f;
  switch_context(b.scheduler, f.context);
  b.current = nullptr;
  if (!b.error.empty()) throw std::runtime_error(b.error);
}

void run_block(Block& b, Schedule schedule, const std::string& launch) {
  const size_t warps = b.warps.size();
  for (;;) {
    const uint64_t before = b.progress;
    if (schedule == Schedule::lockstep) {
      for (Fiber& f : b.fibers)
        if (!f.done) resume(b, f);
    } else {
      for (size_t i = 0; i < warps; ++i) {
        const size_t w = schedule == Schedule::warps_ascending ? i : warps - 1 - i;
        const size_t first = w * kWarpSize, last = std::min(b.fibers.size(), first + kWarpSize);
        for (;;) {  // this warp until it makes no more progress on its own
          const uint64_t warp_before = b.progress;
          for (size_t t = first; t < last; ++t)
            if (!b.fibers[t].done) resume(b, b.fibers[t]);
          if (b.progress == warp_before) break;
        }
      }
    }
    if (b.live == 0) return;
    if (b.progress == before) {
      std::string waiting;
      for (const Fiber& f : b.fibers) {
        if (f.done) continue;
        waiting = describe(f) + " waits in " + (f.waiting_in ? f.waiting_in : "?");
        break;
      }
      const size_t returned = b.fibers.size() - size_t(b.live);
      throw std::runtime_error(launch + ": deadlock: " + std::to_string(b.live) + " threads wait and none can go on (" +
                               waiting + "; " + std::to_string(returned) + " threads returned)");
    }
  }
}

}  // namespace

const ThreadContext& this_thread() { return block().current->indices; }

std::string where() {
  if (g_block == nullptr || g_block->current == nullptr) return "";
  return std::string(g_block->kernel) + ", " + describe(*g_block->current);
}

SharedMemoryStats shared_memory_stats() { return g_stats; }

void track_global_loads(bool on) {
  g_track_loads = on;
  g_load_sites.clear();
}

std::vector<GlobalLoadSite> global_load_stats() {
  std::vector<GlobalLoadSite> out;
  for (const auto& [site, st] : g_load_sites) out.push_back({st.file, st.line, st.requests, st.sectors, st.ideal_sectors});
  return out;
}

void record_global_load(const void* p, size_t bytes, const std::source_location& site) {
  if (!g_track_loads) return;
  // A site is its file name's address and its line and column: one static string per file in the binary.
  static thread_local std::map<std::tuple<const char*, unsigned, unsigned>, int> ids;
  const auto [it, inserted] = ids.emplace(std::make_tuple(site.file_name(), site.line(), site.column()), 0);
  record_load(&it->second, site.file_name(), site.line(), reinterpret_cast<uintptr_t>(p), uint32_t(bytes));
}
void reset_shared_memory_stats() { g_stats = SharedMemoryStats{}; }

void run_grid(const char* kernel, dim3 grid, dim3 block_dim, size_t dynamic_smem_bytes,
              const std::function<void()>& body) {
  const size_t threads = size_t(block_dim.x) * block_dim.y * block_dim.z;
  const std::string launch = std::string(kernel) + " launch";
  if (threads == 0 || threads > 1024) {
    throw std::runtime_error(launch + ": " + std::to_string(threads) + " threads per block (1 to 1024)");
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
    throw std::runtime_error(launch + ": grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
                             std::to_string(grid.z) + ") is empty or too large");
  }
  if (dynamic_smem_bytes > 227 * 1024) {
    throw std::runtime_error(launch + ": " + std::to_string(dynamic_smem_bytes) +
                             " bytes of dynamic shared memory (sm_90 allows 227 KiB a block)");
  }
  if (g_block != nullptr) throw std::logic_error(launch + ": a launch from inside a kernel is not emulated");
  while (g_stacks.size() < threads) g_stacks.push_back(std::make_unique<Stack>());
  std::vector<unsigned char> smem_storage(dynamic_smem_bytes + kSmemAlign);
  auto* smem = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<uintptr_t>(smem_storage.data()) + kSmemAlign - 1) / kSmemAlign * kSmemAlign);

  Block b;
  b.kernel = kernel;
  b.body = &body;
  b.smem = smem;
  b.smem_bytes = dynamic_smem_bytes;
  g_block = &b;
  struct Reset {
    ~Reset() { g_block = nullptr; }
  } reset;

  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        start_block(b, uint3{bx, by, bz}, grid, block_dim);
        const uint64_t linear_block = bx + uint64_t(grid.x) * (by + uint64_t(grid.y) * bz);
        const auto schedule = static_cast<Schedule>(linear_block % 3);
        b.copies_land_at_issue = schedule == Schedule::warps_descending;
        run_block(b, schedule, launch);
        if (g_track_loads) account_partial_loads(b);
      }
}

void sync_threads() {
  Block& b = block();
  Fiber* self = b.current;
  ++b.progress;
  if (++b.barrier_arrived == b.live) {
    b.barrier_arrived = 0;
    ++b.barrier_generation;
    return;
  }
  const uint64_t generation = b.barrier_generation;
  self->waiting_in = "__syncthreads";
  while (b.barrier_generation == generation) yield();
  self->waiting_in = nullptr;
}

void sync_warp(unsigned mask) { collective(Op::sync_warp, mask, nullptr, 0); }

uint64_t shfl_xor(unsigned mask, uint64_t bits, int lane_mask, int width) {
  if (width != kWarpSize) fail("__shfl_xor_sync with width " + std::to_string(width) + " is not emulated");
  if (lane_mask < 0 || lane_mask >= kWarpSize) fail("__shfl_xor_sync lane mask " + std::to_string(lane_mask));
  const uint32_t in[2] = {uint32_t(bits), uint32_t(bits >> 32)};
  const auto& out = collective(Op::shfl_xor, mask, in, 2, lane_mask);
  return uint64_t(out[0]) | uint64_t(out[1]) << 32;
}

unsigned ballot(unsigned mask, bool predicate) {
  const uint32_t in[1] = {predicate ? 1u : 0u};
  return collective(Op::ballot, mask, in, 1)[0];
}

void* dynamic_shared() { return block().smem; }

uint32_t shared_offset(const void* p) {
  Block& b = block();
  const auto* c = static_cast<const unsigned char*>(p);
  if (c < b.smem || c > b.smem + b.smem_bytes) {
    fail("__cvta_generic_to_shared of an address outside dynamic shared memory (static __shared__ arrays are not "
         "addressable by PTX in the emulator)");
  }
  return static_cast<uint32_t>(c - b.smem);
}

void ldmatrix_x4(uint32_t (&r)[4], uint32_t address, bool transpose) {
  const uint32_t in[1] = {address};
  const auto& out = collective(transpose ? Op::ldmatrix_trans : Op::ldmatrix, kFullMask, in, 1);
  for (int i = 0; i < 4; ++i) r[i] = out[size_t(i)];
}

void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, MmaInput input) {
  uint32_t in[10] = {a[0], a[1], a[2], a[3], b0, b1};
  std::memcpy(&in[6], &d[0], 4);
  std::memcpy(&in[7], &d[1], 4);
  std::memcpy(&in[8], &d[2], 4);
  std::memcpy(&in[9], &d[3], 4);
  const auto& out = collective(input == MmaInput::bf16 ? Op::mma_bf16 : Op::mma_fp16, kFullMask, in, 10);
  for (int i = 0; i < 4; ++i) std::memcpy(&d[i], &out[size_t(i)], 4);
}

void cp_async_16(uint32_t dst, const void* src, bool valid) {
  smem_at(dst, 16, "cp.async destination");
  if (valid && reinterpret_cast<uintptr_t>(src) % 16 != 0) fail("cp.async source is not 16-byte aligned");
  if (valid && src == nullptr) fail("cp.async from a null source");
  Block& b = block();
  if (g_track_loads) {
    static const int cp_async_site = 0;
    record_load(&cp_async_site, "cp.async", 0, reinterpret_cast<uintptr_t>(src), valid ? 16u : 0u);
  }
  b.current->copies.push_back({dst, src, valid});
  if (b.copies_land_at_issue) land_copies(*b.current, b.current->copies.size());
}

void cp_async_commit() {
  Fiber& f = *block().current;
  f.group_ends.push_back(f.copies.size());
}

void cp_async_wait(int pending_groups) {
  Fiber& f = *block().current;
  // Groups older than the newest `pending_groups` land now; copies not yet committed stay in flight.
  const size_t groups = f.group_ends.size();
  if (groups <= size_t(pending_groups)) return;
  const size_t land = groups - size_t(pending_groups);
  const size_t count = f.group_ends[land - 1];
  land_copies(f, count);
  f.group_ends.erase(f.group_ends.begin(), f.group_ends.begin() + std::ptrdiff_t(land));
  for (size_t& end : f.group_ends) end -= count;
}

}  // namespace talklab::simt
