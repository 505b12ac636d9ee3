// The report: Markdown and HTML pages generated from result files, one page per talk, linking back to it.
//
//   DIR/index.md, DIR/index.html      the runs (each with its environment block) and the talks they reproduce
//   DIR/<talk>.md, DIR/<talk>.html    a talk: title, speakers, video; its headline (the key comparisons its
//                                     experiments declare, and the chart that shows them); what the lab reproduces;
//                                     a table per experiment (ours beside PyTorch's, with the speed-up) and the
//                                     tables it declares; the other charts (Vega-Lite, data inlined); the runs
//   DIR/<page>-chart-N.svg            each chart drawn as a static picture, shown by the Markdown page
//   DIR/vendor/                       vega, vega-lite and vega-embed in one bundle, so the pages open offline
//
// Every number on a page comes from the result files; nothing is typed in. Several files (this CPU and an
// H100, say) appear side by side: each keeps its own environment column, tables and charts split by run. Which files
// is the caller's choice: nothing is globbed or added.
//
// Every experiment-specific choice (which implementation is PyTorch's, which is a helper, which charts, which
// comparisons, which axes apply where) comes from the experiments' declarations (harness/presentation.h) as the
// files record them: this folder names no experiment and no implementation.
//
// The HTML pages record in <pre id="report-status"> how many charts rendered and every error logged, which
// is what tests/bench/check_report.py reads through headless Chromium.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/compare.h"
#include "harness/config.h"
#include "harness/presentation.h"

namespace talklab::report {

struct ReportInput {
  std::vector<ResultDoc> runs;  // in the order given
  std::vector<Talk> talks;      // the registry (configs/talks.toml)
  // experiment name -> its declaration from this build's registry: used for the experiments no file declares
  // (files written before context.talklab.experiments); an experiment neither knows is shown undeclared (no charts,
  // no headline, every implementation taken as ours)
  std::map<std::string, ExperimentDeclaration> declarations;
  // Show every file's figure of a case, even where a later file of the same machine measured it again (view.h,
  // Corpus); by default the later one replaces it and the index says how many did.
  bool keep_superseded = false;
};

struct ReportOutput {
  std::map<std::string, std::string> pages;    // file name relative to the report folder -> text, ready to write
  std::map<std::string, nlohmann::json> svgs;  // file name relative to the report folder -> Vega-Lite spec to draw
};
ReportOutput render_report(const ReportInput& input);

}  // namespace talklab::report
