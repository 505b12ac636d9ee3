// The tables an experiment declares beside its charts (harness/presentation.h, ChartKind::table, ::sweep and
// ::frontier): the fixed policies against a baseline, a budget sweep, or ours at no more memory than a reference's
// every point, say, built from the cases with nothing named here.
#pragma once

#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

// Adds the table `spec` declares (heading, caption, one table per group of cases that differ elsewhere than in
// the table's own axes) to the page; does nothing for the kinds that are charts, or when nothing was measured.
void declared_table(Page& page, const ChartSpec& spec, const std::vector<const CaseView*>& cases, const Corpus& corpus);

}  // namespace talklab::report
