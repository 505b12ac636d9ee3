// The runs side by side, as a table of their environments: one row per property (file, date, commit, CPU, threads,
// OpenMP waiting, GPU, versions, seed, measured ceilings, warnings), one column per run.
#pragma once

#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

// "fp32 812 GFLOP/s, memory 38.2 GB/s": a device's measured ceilings from a file's context.
std::string ceilings_text(const json& roofline);
Table environment_table(const std::vector<const Run*>& runs);

}  // namespace talklab::report
