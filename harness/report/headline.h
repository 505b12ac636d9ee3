// What a talk page opens with: the comparisons its experiments declare as key (harness/presentation.h,
// KeyComparison), one row each: our implementation against the fastest PyTorch one at the same point (or the one
// declared), time and peak memory with their ratios, on one machine: where several measured the comparisons, the
// newest file's (the one with more rows on a tie), the others named below the table (their rows are in the page's
// results); the first kHeadlineRows of them above the chart. With the rows of every machine in one table (a Zen 2, a
// Zen 3 and a Zen 5, up to 23 rows), the committed report's first-screen check (tests/bench/check_report.py
// first-screen, over every default-profile file) found 14 problems; with one machine's, 8; with four rows above the
// chart, none.
#pragma once

#include <string>
#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

// Rows a headline table shows above its chart; the rest follow the chart (HeadlineRows::more). With the page's title
// and one machine, 4 rows of 27 px put the chart's top at ~408 px of the 1366x768 screen, where the first-screen
// check wants it by 425 px (200 px of it visible); 6 rows put it at 462.
inline constexpr size_t kHeadlineRows = 4;

struct HeadlineRows {
  Table table;                        // empty rows when none of the declared comparisons was measured
  Table more;                         // the rows past kHeadlineRows, in the same columns (empty: none)
  std::vector<std::string> missing;   // why a declared comparison has no row ("int8_w8a8: skipped: ...")
  std::string machine;                // the machine every row was measured on (the table has no machine column)
  std::vector<std::string> elsewhere; // the other machines that measured a pair, with their count ("X: 3 rows")
};

// The headline of one experiment's cases.
HeadlineRows headline_rows(const std::string& experiment, const std::vector<const CaseView*>& cases, const Corpus& corpus);

}  // namespace talklab::report
