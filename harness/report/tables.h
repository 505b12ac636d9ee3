// An experiment's section of a talk page: its description, the axes every case shares, one row per case (ours
// beside LibTorch's, with the speed-up against the fastest LibTorch implementation at the same point), and the
// skipped cases with their reasons), then the tables the experiment declares (declared_tables.h). Only the axes
// that apply to a case name it; a column no case fills is left out; a long table is folded in HTML.
#pragma once

#include <string>
#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

void experiment_section(Page& page, const std::string& experiment, const std::vector<const CaseView*>& cases,
                        const Corpus& corpus);

}  // namespace talklab::report
