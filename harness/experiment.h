// How an experiment is declared: its axes, its implementations, its declared work and its talks.
//
// An experiment is one technique (attention, matmul, roofline, ...). An implementation is one way to
// compute it (torch_sdpa, flash_cpu, ...), on one device. A case is one implementation at one point of the
// axes: `experiment/implementation/axis=value/.../device=D`. The harness drives every case the same way:
//
//   setup()   allocate inputs and fill them with fresh random values from the seed (never zeros)
//   poison()  fill outputs with NaN, so an element the run leaves unwritten fails the check
//   run()     the computation; this is what is timed
//   check()   compare the output of the last run with a float64 reference (harness/check.h)
//
// A case that fails check() is recorded as failed and is not timed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "harness/axis.h"
#include "harness/check.h"
#include "harness/params.h"
#include "harness/presentation.h"

namespace talklab {

enum class Device { cpu, cuda };
const char* device_name(Device device);

// What a case must do, declared rather than guessed: rates and roofline fractions derive from it.
struct Work {
  // A constructor, not aggregate initialization, so Work{flops, bytes, peak} leaves bandwidth to its default
  // without -Wmissing-field-initializers at every such site.
  Work(double flops_ = 0, double bytes_ = 0, std::string peak_ = "", std::string bandwidth_ = "")
      : flops(flops_), bytes(bytes_), peak(std::move(peak_)), bandwidth(std::move(bandwidth_)) {}
  double flops = 0;   // useful operations (FLOPs, or integer ops): masked-out work does not count
  double bytes = 0;   // the fewest bytes the case must move: each input read once, each output written once
  std::string peak;   // the compute ceiling that bounds it ("fp32", "bf16", "int8"); empty = memory only
  // The memory ceiling that bounds it: "" = the machine's stream bandwidth (copy or triad, bytes read plus
  // written), "read" = the read-only stream, for work that reads its bytes and writes next to nothing (a decode
  // step's GEMV streams its weights; it does not copy them). harness/roofline.h.
  std::string bandwidth;
};

// Named numbers of an experiment's own (executed FLOPs, density, ...), kept in result files.
using Counters = std::vector<std::pair<std::string, double>>;
// Named words of an experiment's own: what a library chose for the case (the SDPA backend that ran, say).
using Labels = std::vector<std::pair<std::string, std::string>>;

struct CaseContext {
  const Params& params;
  Device device;
  uint64_t seed;  // differs per case and per run unless --seed is given
  int threads;
};

class Case {
 public:
  virtual ~Case() = default;
  virtual void setup() = 0;
  virtual void poison() = 0;
  virtual void run() = 0;
  virtual Accuracy check() = 0;
  // Called once after timing; add counters of the experiment's own.
  virtual void add_counters(Counters& /*out*/) {}
  // Called once after the checked run; add labels of the experiment's own (kept even if timing fails).
  virtual void add_labels(Labels& /*out*/) {}
  // CUDA cases: the stream run() enqueues its work on (nullptr = the default stream).
  virtual void* stream() { return nullptr; }
  // CUDA cases: peak device bytes of the checked run (LibTorch's caching-allocator statistics); CPU cases
  // are measured by the harness's tracking allocator instead.
  virtual std::optional<int64_t> device_peak_bytes() { return std::nullopt; }
};

// Thrown by a case's setup when this point cannot run here for a reason only running it reveals (a PyTorch anchor
// whose compile fails, a feature this PyTorch lacks): the case is recorded as skipped with the message, not failed.
class CaseSkipped : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using CaseFactory = std::function<std::unique_ptr<Case>(const CaseContext&)>;
// Why a point cannot run (empty string: it can). Evaluated before anything is allocated.
using SkipPredicate = std::function<std::string(const Params&)>;

struct Implementation {
  std::string name;
  Device device = Device::cpu;
  std::string description;
  Provider provider = Provider::ours;  // who wrote it: ours, PyTorch (eager or compiled), a vendor library called directly
  Role role = Role::technique;         // a measurement of the technique, or of a helper of it (a block-mask build)
  CaseFactory make;   // empty when this build cannot run it; the case is then skipped with missing_reason
  SkipPredicate skip;
  // Points this implementation does not apply to are not cases at all (e.g. a GPU copy has no
  // fp32_fma ceiling); empty = applies everywhere.
  std::function<bool(const Params&)> applies;
  // Work of its own, where it computes something else than the experiment declares (e.g. building a block
  // mask inside the attention experiment); empty = the experiment's.
  std::function<Work(const CaseContext&)> work;
  std::string missing_reason = "not compiled into this build";
  // Its cases run Python in bench's embedded interpreter (harness/python.h): bench starts the interpreter before
  // the run when one of them is selected, so the start's cost is outside every case and the result file says
  // which Python and torch ran them.
  bool embedded_python = false;
};

struct Experiment {
  std::string name;
  std::string description;
  std::vector<std::string> talks;  // ids from configs/talks.toml; an unknown id is an error at start-up
  std::vector<Axis> axes;
  std::vector<Implementation> implementations;
  std::function<Work(const CaseContext&)> work;  // may depend on the thread count (e.g. ceilings)
  SkipPredicate skip;  // points no implementation can run (e.g. window > seq is redundant)
  // OpenMP wait policy this experiment's timings need ("passive"), or "" for the environment's (libgomp spins
  // between regions by default, which microsecond kernels need). bench applies it when every case of a run
  // asks for the same one and OMP_WAIT_POLICY is unset (harness/openmp.h).
  std::string openmp_wait_policy;
  // What the report shows of it: charts and tables, the headline's key comparisons, which axes apply where.
  Presentation presentation;

  const Axis* find_axis(const std::string& axis_name) const;
};

}  // namespace talklab
