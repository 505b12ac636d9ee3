// bench report: Markdown and HTML pages generated from result files, one page per talk, linking back to it.
//
//   DIR/index.md, DIR/index.html      the runs (each with its environment block) and the talks they reproduce
//   DIR/<talk>.md, DIR/<talk>.html    a talk: title, speakers, video; what the lab reproduces from it; a table
//                                     per experiment (ours beside LibTorch's, with the speed-up); HTML adds the
//                                     charts (Vega-Lite specifications, data inlined from the result files)
//   DIR/vendor/                       vega, vega-lite and vega-embed, copied so the pages open offline
//
// Every number on a page comes from the result files; nothing is typed in. Several files (this CPU and an
// H100, say) appear side by side: each keeps its own environment block, tables and charts split by run.
// The HTML pages record in <pre id="report-status"> how many charts rendered and every error logged, which
// is what tests/report/check_report.py reads through headless Chromium.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/compare.h"
#include "harness/config.h"

namespace talklab::bench {

struct ReportInput {
  std::vector<ResultDoc> runs;  // in the order given
  std::vector<Talk> talks;      // the registry (configs/talks.toml)
  // experiment name -> its one-line description, for the "what the lab reproduces" section (from the registry
  // of this build; an experiment it does not know is listed by name only)
  std::map<std::string, std::string> experiment_descriptions;
};

// The pages, by file name relative to the report folder, ready to write.
std::map<std::string, std::string> render_report(const ReportInput& input);

// Where vega's browser builds are: --vega-dir, else TALKLAB_VEGA_DIR, else third_party/vega/node_modules in
// the source tree (scripts/setup.sh fills it from npm with the versions pinned in package-lock.json).
std::filesystem::path default_vega_dir();
// The files bench report copies into DIR/vendor/: (source under the vega dir, name in vendor/).
std::vector<std::pair<std::filesystem::path, std::string>> vega_files(const std::filesystem::path& vega_dir);

}  // namespace talklab::bench
