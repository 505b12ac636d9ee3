// How this process's OpenMP threads wait between parallel regions. libgomp reads OMP_WAIT_POLICY once, when
// it is loaded (before main), so a program chooses it only by setting the variable and executing itself again.
//
// Neither policy suits every case, so an experiment declares the one its timings need (Experiment::
// openmp_wait_policy) and `bench run` applies it when every case selected asks for the same one and the
// environment sets none. On the 2-vCPU VM the lab was built on:
// - Spinning (libgomp's default) made the checkpointing training step run at one of two speeds, 0.39-0.42 s
//   or 0.57-0.60 s, fixed for a whole process or case (3 of 10 processes slow, with the same plan, the same
//   binary and ASLR off; OMP_PROC_BIND and a 10,000 GOMP_SPINCOUNT did not remove it). Sampled profiles put the
//   extra time in OpenBLAS's memory-bound packing, i.e. in the serial parts between regions, as if the
//   spinning thread shared a physical core with the working one. Passive: 10 of 10 at 0.41-0.44 s.
// - Sleeping costs a wake-up per region, 40-60 us here: the quick profile's microsecond matmul and block-mask
//   cases ran 10-30x slower under it (geometric mean of all 138 quick cases: 1.98x), while compute-bound flash
//   attention moved by under 1%. So the default stays libgomp's.
// The policy in effect is recorded in each result's context (docs/results.md).
#pragma once

#include <string>
#include <vector>

namespace talklab::openmp {

struct WaitPolicy {
  std::string policy;  // OMP_WAIT_POLICY as this process started with it; "" when unset (libgomp's default)
  std::string set_by;  // "bench" (it re-executed itself to set it), "environment", or "" when unset
  std::string spin_count;  // GOMP_SPINCOUNT, "" when unset
};

// If OMP_WAIT_POLICY is unset: sets it to `policy`, marks it as set by bench, and executes this binary again with
// argv. Returns only when the variable was already set (an empty string) or exec failed (why, to warn about).
std::string reexec_with_wait_policy(const char* policy, char** argv);

// Sets each (name, value) the environment lacks, marks it set by bench, and executes this binary again with argv;
// returns only when every variable was already set (an empty string) or exec failed (why; the variables are
// then unset again, so the context does not claim them).
std::string reexec_with_environment(const std::vector<std::pair<std::string, std::string>>& variables, char** argv);

WaitPolicy wait_policy();

// Thread placement, `bench run --pin`: OMP_PROC_BIND=close with OMP_PLACES=cores gives each OpenMP thread (ours
// and LibTorch's: they share one pool) a core of its own, set like the wait policy by executing bench again.
// Pinned threads cannot be moved off a core a neighbour is using, nor wander onto one; whether that helps is
// measured in docs/results.md ("Thread placement").
inline constexpr const char* kPinBind = "close";
inline constexpr const char* kPinPlaces = "cores";
// Sets OMP_PROC_BIND and OMP_PLACES (unless set) and executes this binary again with argv; returns only when
// both were already set (an empty string) or exec failed (why).
std::string reexec_pinned(char** argv);

struct Placement {
  std::string proc_bind, places;  // as the environment says ("" when unset)
  std::string set_by;             // "bench", "environment" or ""
  std::vector<std::string> thread_cpus;  // per OpenMP thread of a parallel region: the CPUs it may run on ("0", "0-1")
};
// Runs one parallel region of `threads` threads to read where each may run.
Placement placement(int threads);

// Each OpenMP thread's own CPU time (CLOCK_THREAD_CPUTIME_ID), read by the thread itself in a parallel region of
// `threads` threads: exact to the nanosecond, where the process clock credits a thread running on another CPU
// only at its next tick (so a 0.3 ms burst read through it shows one thread of two as idle).
std::vector<double> thread_cpu_seconds(int threads);

// The OpenMP runtimes (libgomp, libiomp5, libomp) this process has mapped, as /proc/self/maps names them. One is
// right: our kernels link LibTorch's own libgomp (cmake/talklab_torch.cmake). Two would mean two thread pools
// spinning on the same cores, each stalling the other for whole scheduler ticks.
std::vector<std::string> mapped_runtimes();

}  // namespace talklab::openmp
