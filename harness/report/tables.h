// An experiment's section of a talk page: its description, the axes every case shares, one row per case (ours
// beside LibTorch's, with the speed-up against the fastest LibTorch implementation at the same point), and the
// skipped cases with their reasons.
#pragma once

#include <string>
#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

void experiment_section(Page& page, const std::string& experiment, const std::vector<const CaseView*>& cases,
                        const std::vector<Run>& runs, const std::string& description);

}  // namespace talklab::report
