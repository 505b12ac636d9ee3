// What the operating system says about this machine while it measures: which CPU it is (beyond the brand
// string a VM reports), the scheduler tick, and what else is running. The sampler reads the cheap probes
// around every sample (involuntary context switches) and the dearer ones around every case (/proc/stat);
// `bench run` reads busy_state() once before it starts.
//
// Why involuntary context switches: on a 2-vCPU machine a busy neighbour takes a core from one of our OpenMP
// threads for whole scheduler ticks (4 ms at CONFIG_HZ=250) while the other waits at the barrier, so a 3 us
// run takes 4 or 8 ms. getrusage(RUSAGE_SELF).ru_nivcsw counts those preemptions for every thread of the
// process, costs one system call, and is 0 for almost every sample on an idle machine (measured: 13 of 400
// 1-ms samples on the idle 2-vCPU guest, 70 of 400 beside a busy loop pinned to one core; the clean samples'
// medians matched the idle run's to 1%). Per-thread run-queue delay (/proc/PID/schedstat) would say more, but
// kernels without schedstats or delay accounting report 0 there (this Firecracker guest does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace talklab::machine {

// The CPU as /proc/cpuinfo names it. A VM's brand string ("AMD EPYC") covers several generations; family,
// model and stepping tell Zen 4 from Zen 5.
struct CpuIdentity {
  std::string vendor, brand;
  int family = -1, model = -1, stepping = -1;
  std::string microcode;
};
CpuIdentity cpu_identity();

// Involuntary context switches of this process so far, all threads together.
int64_t involuntary_switches();

// Seconds of one scheduler tick (1 / CONFIG_HZ) and where that came from ("/boot/config-...",
// "/proc/config.gz", or "assumed: Debian's CONFIG_HZ=250" when neither is readable).
struct Tick {
  double seconds = 0.004;
  std::string source;
};
const Tick& scheduler_tick();

// A snapshot of the machine's counters, to be differenced around a case.
struct Snapshot {
  double wall_s = 0;    // steady clock
  double busy_s = 0;    // CPU time of every CPU not idle, iowait or steal (/proc/stat, USER_HZ resolution)
  double steal_s = 0;   // time the hypervisor ran something else on our vCPUs
  double process_cpu_s = 0;  // this process's own CPU time
  int runnable = 0;     // procs_running: tasks running or ready to run, ours included
  double load1 = 0;     // one-minute load average
  double mhz = 0;       // mean current clock over the CPUs, 0 where unreadable
};
Snapshot snapshot();

// What changed between two snapshots: CPU time of every other process (busy time minus ours) and steal.
struct Interference {
  double seconds = 0;  // wall time between the snapshots
  double others_cpu_s = 0, steal_s = 0;
  int runnable_before = 0, runnable_after = 0;
  double load_before = 0, load_after = 0;
  double mhz_before = 0, mhz_after = 0;
  // The share of the fp32 ceiling the machine delivered just before and after the case (harness/machine_probes.h,
  // cpu_capacity); 0 when not probed.
  double capacity_before = 0, capacity_after = 0;
};
Interference between(const Snapshot& before, const Snapshot& after);

// Whether the machine is busy before a run starts: other processes' CPU use over `window_s`, tasks ready to
// run beside ours, the load average, and compilers or build tools running (by process name).
struct BusyState {
  double others_cpu_fraction = 0;  // other processes' CPU time over window_s x logical CPUs
  int others_runnable = 0;
  double load1 = 0;
  std::vector<std::string> build_tools;  // "cc1plus (pid 123)", ...
  std::vector<std::string> busiest;      // the other processes that used the most CPU in the window
  bool busy = false;
  std::string why;  // one line, when busy
};
BusyState busy_state(double window_s);

// This process's executable, as /proc/self/exe names it ("" when unreadable).
std::string executable_path();

// The first line of a file ("" when unreadable) and a shell command's output (trailing newlines cut).
std::string read_first_line(const std::string& path);
std::string command_output(const std::string& command);

}  // namespace talklab::machine
