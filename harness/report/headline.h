// What a talk page opens with: the comparisons its experiments declare as key (harness/presentation.h,
// KeyComparison), one row each: our implementation against the fastest PyTorch one at the same point (or the one
// declared), time and peak memory with their ratios, on one machine: where several measured the comparisons, the
// newest file's (the one with more rows on a tie), the others named below the table (their rows are in the page's
// results). With the rows of every machine in one table (a Zen 2, a Zen 3 and a Zen 5, up to 23 rows), the
// committed report's first-screen check (tests/bench/check_report.py first-screen) found 14 problems; with one
// machine's, 8 (pages whose headline is long on any one machine).
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
