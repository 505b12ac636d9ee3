// How a set of cases is named: the axes whose value differs between them name a case, the others are said once.
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

AxisSplit split_axes(const std::vector<const CaseView*>& cases);
// "mask=causal seq=1024" from the given axes ("device" is the case's device); "-" when there are none.
std::string case_label(const CaseView& c, const std::vector<std::string>& axes);

}  // namespace talklab::report
