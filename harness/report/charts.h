// The charts of a talk page as Vega-Lite specifications with their data inlined from the cases: one generic builder
// per chart kind an experiment declares (harness/presentation.h), and the page's roofline.
#pragma once

#include <optional>
#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

// A line, points or pareto chart of `cases` (one experiment's); nullopt when nothing of it was measured, and for
// the kinds that are not drawn this way (roofline, table, sweep).
std::optional<Chart> draw_chart(const ChartSpec& spec, const std::vector<const CaseView*>& cases, const Corpus& corpus);
// Each case at (declared intensity, achieved rate) under its run's measured ceilings.
std::optional<Chart> roofline_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs);

}  // namespace talklab::report
