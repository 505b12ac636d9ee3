// What a talk page opens with: the comparisons its experiments declare as key (harness/presentation.h,
// KeyComparison), one row each: our implementation against the fastest PyTorch one at the same point (or the one
// declared), time and peak memory with their ratios, on one machine: where several measured the comparisons, the
// newest file's (the one with more rows on a tie), the others named below the table (their rows are in the page's
// results). Rows of two or three CPUs under one brand string, 6-18 of them, put the headline chart below the
// first screen on 8 of 13 pages of the committed report (tests/bench/check_report.py first-screen).
#pragma once

#include <string>
#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

struct HeadlineRows {
  Table table;                        // empty rows when none of the declared comparisons was measured
  std::vector<std::string> missing;   // why a declared comparison has no row ("int8_w8a8: skipped: ...")
  std::string machine;                // the machine every row was measured on (the table has no machine column)
  std::vector<std::string> elsewhere; // the other machines that measured a pair, with their count ("X: 3 rows")
};

// The headline of one experiment's cases.
HeadlineRows headline_rows(const std::string& experiment, const std::vector<const CaseView*>& cases, const Corpus& corpus);

}  // namespace talklab::report
