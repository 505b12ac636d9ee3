// bench report FILE... --out DIR: see harness/report/report.h. Everything is read, rendered and drawn (the chart bundle and the
// SVGs, into a staging folder beside DIR) before DIR is touched, so bad input (a missing or malformed result file,
// a Python without vl-convert) leaves DIR as it was.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include "bench/commands.h"
#include "harness/report/assets.h"
#include "harness/report/report.h"
#include "harness/registry.h"
#include "harness/result.h"

namespace talklab::bench {
namespace {

namespace fs = std::filesystem;

// A folder removed with everything in it when this goes out of scope.
struct Staging {
  fs::path dir;
  ~Staging() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

void add_report_options(CLI::App& cmd, ReportFlags& o) {
  cmd.add_option("files", o.files, "result files, shown side by side (this CPU and a GPU box, say)")->required();
  cmd.add_option("--out", o.out, "folder for index.md, index.html, one page per talk, its SVG charts and vendor/")
      ->required();
  cmd.add_option("--python", o.python,
                 "Python with vl-convert-python, which draws the charts (default: $TALKLAB_PYTHON, else the build's "
                 ".venv/bin/python)");
  cmd.add_option("--config-dir", o.config_dir, "folder with talks.toml (default: the source tree's configs/)");
  cmd.add_flag("--keep-superseded", o.keep_superseded,
               "show every file's figure of a case; by default a later file of the same machine replaces an earlier one's");
}

int report_command(const ReportFlags& f) {
  report::ReportInput input;
  input.keep_superseded = f.keep_superseded;
  for (const std::string& file : f.files) input.runs.push_back(load_result(file));
  const fs::path config_dir = f.config_dir.empty() ? default_config_dir() : fs::path(f.config_dir);
  input.talks = load_talks(config_dir / "talks.toml");
  // Files written before experiments declared themselves (context.talklab.experiments) fall back to this build's.
  for (const Experiment& e : registry().experiments()) input.declarations[e.name] = declaration_of(e);
  for (const ResultDoc& doc : input.runs) {
    for (const std::string& w : doc.warnings) fmt::print(stderr, "bench report: warning: {}\n", w);
  }
  const report::ReportOutput report = report::render_report(input);

  fs::path out = fs::absolute(fs::path(f.out)).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  std::error_code ec;
  fs::create_directories(out.parent_path(), ec);
  if (ec) throw InputError(fmt::format("report: cannot create {}: {}", out.parent_path().string(), ec.message()));
  const Staging staging{out.parent_path() / fmt::format(".{}.bench-report-{}", out.filename().string(), ::getpid())};
  report::draw_charts(f.python.empty() ? report::default_python() : f.python, report, staging.dir);

  fs::create_directories(out / "vendor", ec);
  if (ec) throw InputError(fmt::format("report: cannot create {}: {}", (out / "vendor").string(), ec.message()));
  for (const auto& [name, text] : report.pages) write_file_atomically(out / name, text);
  std::vector<fs::path> drawn;
  for (const auto& entry : fs::recursive_directory_iterator(staging.dir)) {
    if (entry.is_regular_file()) drawn.push_back(entry.path());
  }
  for (const fs::path& file : drawn) {
    const fs::path target = out / fs::relative(file, staging.dir);
    fs::rename(file, target, ec);
    if (ec) throw InputError(fmt::format("report: cannot move {} to {}: {}", file.string(), target.string(), ec.message()));
  }
  fmt::print("bench report: {} pages and {} charts from {} result file{} in {} (open {})\n", report.pages.size(),
             report.svgs.size(), input.runs.size(), input.runs.size() == 1 ? "" : "s", out.string(),
             (out / "index.html").string());
  return 0;
}

}  // namespace talklab::bench
