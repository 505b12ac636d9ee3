// The charts of a talk page, as Vega-Lite specifications with their data inlined from the cases.
#pragma once

#include <optional>
#include <vector>

#include "harness/report/page.h"
#include "harness/report/view.h"

namespace talklab::report {

std::optional<Chart> attention_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs);
std::vector<Chart> matmul_charts(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs);
std::optional<Chart> pareto_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs);
std::optional<Chart> roofline_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs);

}  // namespace talklab::report
