// How this process's OpenMP threads wait between parallel regions. libgomp reads OMP_WAIT_POLICY once, when
// it is loaded (before main), so a program chooses it only by setting the variable and executing itself again.
//
// Why `bench run` makes it passive unless the environment says otherwise: with libgomp's default (spin for a
// while before sleeping), the checkpointing training step on the 2-vCPU VM the lab was built on ran at one of
// two speeds, 0.39-0.42 s or 0.57-0.60 s, fixed for a whole process or case (3 of 10 processes slow, with the
// same plan, the same binary and ASLR off; OMP_PROC_BIND and a 10,000 GOMP_SPINCOUNT did not remove it).
// Sampled profiles put the extra time in OpenBLAS's memory-bound packing and beta routines, not in our code.
// With passive waiting, 10 of 10 processes measured 0.41-0.44 s. Compute-bound cases (flash attention) moved by
// under 1%. docs/results.md has the figures; the policy in effect is recorded in each result's context.
#pragma once

#include <string>

namespace talklab::openmp {

// What bench sets when the environment leaves OMP_WAIT_POLICY unset.
inline constexpr const char* kBenchWaitPolicy = "passive";

struct WaitPolicy {
  std::string policy;  // OMP_WAIT_POLICY as this process started with it; "" when unset (libgomp's default)
  std::string set_by;  // "bench" (it re-executed itself to set it), "environment", or "" when unset
  std::string spin_count;  // GOMP_SPINCOUNT, "" when unset
};

// If OMP_WAIT_POLICY is unset: sets it to `policy`, marks it as set by bench, and executes this binary again with
// argv. Returns only when the variable was already set (an empty string) or exec failed (why, to warn about).
std::string reexec_with_wait_policy(const char* policy, char** argv);

WaitPolicy wait_policy();

}  // namespace talklab::openmp
