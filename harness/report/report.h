// The report: Markdown and HTML pages generated from result files, one page per talk, linking back to it.
//
//   DIR/index.md, DIR/index.html      the runs (each with its environment block) and the talks they reproduce
//   DIR/<talk>.md, DIR/<talk>.html    a talk: title, speakers, video; what the lab reproduces from it; a table
//                                     per experiment (ours beside LibTorch's, with the speed-up); HTML adds the
//                                     charts (Vega-Lite specifications, data inlined from the result files)
//   DIR/<page>-chart-N.svg            each chart drawn as a static picture, shown by the Markdown page
//   DIR/vendor/                       vega, vega-lite and vega-embed in one bundle, so the pages open offline
//
// Every number on a page comes from the result files; nothing is typed in. Several files (this CPU and an
// H100, say) appear side by side: each keeps its own environment block, tables and charts split by run.
// The HTML pages record in <pre id="report-status"> how many charts rendered and every error logged, which
// is what tests/bench/check_report.py reads through headless Chromium.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/compare.h"
#include "harness/config.h"

namespace talklab::report {

struct ReportInput {
  std::vector<ResultDoc> runs;  // in the order given
  std::vector<Talk> talks;      // the registry (configs/talks.toml)
  // experiment name -> its one-line description, for the "what the lab reproduces" section (from the registry
  // of this build; an experiment it does not know is listed by name only)
  std::map<std::string, std::string> experiment_descriptions;
};

struct ReportOutput {
  std::map<std::string, std::string> pages;    // file name relative to the report folder -> text, ready to write
  std::map<std::string, nlohmann::json> svgs;  // file name relative to the report folder -> Vega-Lite spec to draw
};
ReportOutput render_report(const ReportInput& input);

}  // namespace talklab::report
