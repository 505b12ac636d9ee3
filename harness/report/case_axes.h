// How a set of cases is named: the axes whose value differs between them name a case, the others are said once;
// an axis that does not apply to a case (its experiment declares where it does) says nothing about it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "harness/report/view.h"

namespace talklab::report {

// Axes whose value differs between the cases (these name a case in a table), and the ones that do not.
struct AxisSplit {
  std::vector<std::string> varying;
  std::vector<std::pair<std::string, std::string>> fixed;
};

// Only where an axis applies (AxisScope) does its value count; one that applies to some cases only is said with
// where it applies ("window=512 (where mask is sliding_window)").
AxisSplit split_axes(const std::vector<const CaseView*>& cases, const ExperimentDeclaration& d);
// "mask=causal seq=1024" from the given axes that apply to the case ("device" is its device); "-" when none.
std::string case_label(const CaseView& c, const std::vector<std::string>& axes, const ExperimentDeclaration& d);

}  // namespace talklab::report
