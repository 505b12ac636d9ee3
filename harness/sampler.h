// Adaptive sampling, the one place where timing policy lives.
//
// Warm-up first (at least one run, then until warmup_s has passed), which also sizes a sample from the fastest
// warm-up run: a sample repeats the run often enough to last min_sample_s, so that clock resolution and call overhead stay
// negligible for microsecond cases. Then samples are taken until, after min_samples and min_time_s, the
// relative spread (IQR / median) is at most max_noise ("converged"), or max_time_s has passed ("time_cap"),
// or max_samples were taken ("sample_cap"). The raw per-run times are kept.
//
// Interference (harness/machine.h): each sample records the involuntary context switches the process took
// while it ran. Samples without any are "clean"; the statistics (and the convergence test) use the clean
// ones when at least min_samples remain, and the preempted ones are kept in the file, marked, and counted as
// dropped. A case is "disturbed" (settle) when too few clean samples remain while other processes or the
// hypervisor used a tenth of the CPUs (on a quiet machine, long samples are often marked by a kernel thread's
// blip and are fine), when other processes used a quarter of the CPUs while it was sampled, however clean its
// samples (a neighbour holding a core slows the cores beside it without preempting them), or when its kept samples
// still cluster at whole scheduler ticks above the fastest one (a stall the switch count did not see: the
// hypervisor taking a vCPU shows as steal, not as a context switch).
// The runner adds a third reason, the machine's capacity around the case (harness/machine_probes.h, cpu_capacity),
// and `bench run` re-runs disturbed cases at its end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/experiment.h"
#include "harness/machine.h"
#include "harness/stats.h"

namespace talklab {

struct SamplingOptions {
  double warmup_s = 0.05;
  double min_time_s = 0.3;
  double max_time_s = 10.0;
  double max_noise = 0.03;
  int min_samples = 5;
  int max_samples = 2000;
  double min_sample_s = 1e-3;
  bool batch_runs = true;  // false: one run per sample (CUDA cold mode flushes the cache between runs)
};

struct Timing {
  SampleStats stats;            // over the kept per-run times
  std::vector<double> samples_s;  // per-run time of each sample (sample time / runs_per_sample)
  std::vector<int64_t> preemptions;  // per sample: involuntary context switches while it ran
  bool kept_clean = false;      // the statistics are over the samples without preemptions (else over all)
  int dropped = 0;              // samples left out of the statistics
  std::string dropped_reason;
  bool disturbed = false;       // too few clean samples, or kept samples at whole ticks: the figure is suspect
  std::string disturbed_evidence;
  machine::Interference interference;  // the machine around the sampling (other processes, steal, load)
  int64_t runs_per_sample = 1;
  std::string stop_reason;      // converged, time_cap, sample_cap
  double cpu_s_per_run = 0;     // process CPU time per run, all threads together
  double total_s = 0;           // wall time spent sampling, warm-up included
  std::vector<double> pass_medians_s;  // one per pass when the run made several (merge_passes), else empty
  // Which of the case's timings this is (1-based: its passes in order, then its re-runs), one number per pass it
  // merges; set by the runner, empty for a timing taken outside it.
  std::vector<int> attempt_numbers;
};

// Sets stats, kept_clean, dropped and disturbed from samples_s and preemptions (see the header comment).
// `tick_s` is one scheduler tick.
void settle(Timing& t, int min_samples, double tick_s);

// The samples the statistics are over.
std::vector<double> kept_samples(const Timing& t);

// sample(runs) performs `runs` runs and returns the seconds they took (as the caller's timer measures:
// steady clock on CPU, CUDA events on a GPU). The sampler keeps the wall clock for its own caps.
Timing measure(const std::function<double(int64_t runs)>& sample, const SamplingOptions& options);

// One case measured in several passes (`bench run --passes N`: the whole selection runs N times, so the passes
// of a case are minutes apart). The figure is the median of the passes' medians: a state of the machine that
// lasts seconds and slows one pass (see docs/results.md) does not move it, and no pass is picked by hand.
// Samples, min and max are over every pass, so rel_spread (IQR of all samples over that median) still shows
// how far the passes were apart. runs_per_sample and stop_reason are the last pass's; cpu_s_per_run is the mean.
// Samples are kept clean only when every pass kept them so; the case is disturbed when any pass was.
Timing merge_passes(const std::vector<Timing>& passes);

// The timings of one case (its passes, then its re-runs) whose median is more than kMaxAttemptSlowdown times the
// fastest median among those not already disturbed: disturbed too, slowed by something neither the samples nor the
// capacity probes see. A disturbance only slows a case, so the fastest clean timing is the reference. What it
// catches (Zen 3 guest, 2026-12-05, decode at 32k, 3 passes, no case flagged by the other rules): pass medians of
// 3.68 and 5.92 ms, 4.72 / 7.28 / 8.65 ms (the figure 7.28 ms, the median of the three), 5.46 / 7.93 / 5.48 ms, with
// the fp32 probes around them normal: another guest's memory traffic slowing a memory-bound step for whole passes.
// Where passes are this far apart, the machine itself was not the same, and no median of them describes it. 1.2:
// above the spread of a quiet machine's passes (the same run's steady cases 0.5-5%), and as strict as the capacity
// probe's 85% (a 1.18x slowdown).
inline constexpr double kMaxAttemptSlowdown = 1.2;
// Marks them (disturbed, with the evidence) in place; returns how many it marked. Timings already disturbed are
// left as they are; with fewer than two clean ones, nothing is marked.
int mark_slow_attempts(std::vector<Timing>& attempts);

// Bursts: how ceilings are measured (the roofline experiment's ceilings.cpp). A ceiling is the best the machine
// does, so its figure is the fastest clean burst, not a median: the median of a few long samples, as before, took
// every disturbed sample of a busy machine into the ruler (a quick run beside a busy process printed 311% of
// roofline). A burst is one call of `run` (which returns its own seconds, as its timer measures them); it is clean
// when the process was not preempted and each of `threads` OpenMP threads had a core all along: its CPU time is at
// least kCleanBurstUtilization of the wall time (a thread that waited for one, behind a neighbour or beside its
// sibling thread, falls short; measured by the threads themselves, openmp::thread_cpu_seconds).
inline constexpr double kCleanBurstUtilization = 0.9;

struct Bursts {
  double fastest_clean_s = 0;  // 0 when no burst was clean
  double fastest_s = 0, median_s = 0, slowest_s = 0;  // over every burst sampled
  int samples = 0;
  int preempted = 0;  // bursts during which the process took involuntary context switches
  int clean = 0;
};

// Bursts under the sampling policy of measure() (a warm-up, then at least `seconds` of one-burst samples until the
// spread is 1% or 4 x `seconds` have passed).
Bursts measure_bursts(const std::function<double()>& run, int threads, double seconds);
// Exactly `count` bursts and no warm-up: a probe short enough to run around every case (cpu_capacity).
Bursts probe_bursts(const std::function<double()>& run, int threads, int count);

// The median of `samples` calls of `sample` (which returns its own seconds), after `warmups` calls left out.
double median_seconds(const std::function<double()>& sample, int warmups, int samples);

// Wall-clock seconds of one call of f, and the median over `repeats` calls: for the side figures a case
// reports beside its timed run (a quantization step, a plan build), never for the run itself.
double wall_seconds(const std::function<void()>& f);
double median_wall_seconds(const std::function<void()>& f, int repeats);

// Two runs timed against each other, for a side figure that compares them (a paged cache against a contiguous one,
// a kernel against a plain read of as many bytes): `rounds` rounds, each timing a then b (b then a in every other
// round) over at least min_side_s each (runs repeated), after one warm-up call of each. The medians are over the
// rounds: a / b per round, and each side's seconds per run. A ratio within a round is immune to what moves the
// machine between rounds (on a shared host, bandwidth moved 20-40% between cases minutes apart), which two figures
// measured at different times are not.
struct PairedTimes {
  double ratio = 0;       // median over the rounds of a's time / b's time
  double a_s = 0, b_s = 0;  // median seconds per run of each
  int rounds = 0;
  int64_t runs = 0;  // runs of each per side of a round
};
PairedTimes paired_times(const std::function<void()>& a, const std::function<void()>& b, int rounds = 21,
                         double min_side_s = 2e-3);

// A memory-bound step against `read`, a plain read of `bytes` bytes (the roofline's read-only stream over what the
// step reads), paired: adds read_fraction (median over the rounds of the read's time / the step's, the share of what
// the machine reads at those moments that the step moves) and read_gbps_paired (the read's rate) to out. The
// counters the decode experiment and matmul's decode-shaped products report.
void add_paired_read(Counters& out, const std::function<void()>& read, const std::function<void()>& step,
                     double bytes);

// Process CPU time in seconds (all threads).
double process_cpu_seconds();

}  // namespace talklab
