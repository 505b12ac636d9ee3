// What a talk page opens with: the comparisons its experiments declare as key (harness/presentation.h,
// KeyComparison), one row each: our implementation against the fastest PyTorch one at the same point (or the one
// declared), time and peak memory with their ratios, on the machine that measured them.
#pragma once

#include <string>
#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

struct HeadlineRows {
  Table table;                        // empty rows when none of the declared comparisons was measured
  std::vector<std::string> missing;   // why a declared comparison has no row ("int8_w8a8: skipped: ...")
  std::string machine;                // when every row was measured on one machine: it (and no machine column)
};

// The headline of one experiment's cases.
HeadlineRows headline_rows(const std::string& experiment, const std::vector<const CaseView*>& cases, const Corpus& corpus);

}  // namespace talklab::report
