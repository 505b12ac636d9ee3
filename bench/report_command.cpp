// bench report FILE... --out DIR: see report.h. Everything is read and rendered before the first write, so bad
// input (a missing or malformed result file, no vega) leaves DIR as it was.
#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include "bench/commands.h"
#include "bench/report.h"
#include "harness/registry.h"
#include "harness/result.h"

namespace talklab::bench {

void add_report_options(CLI::App& cmd, ReportFlags& o) {
  cmd.add_option("files", o.files, "result files, shown side by side (this CPU and a GPU box, say)")->required();
  cmd.add_option("--out", o.out, "folder for index.md, index.html, one page per talk and vendor/")->required();
  cmd.add_option("--vega-dir", o.vega_dir,
                 "node_modules holding vega, vega-lite and vega-embed (default: third_party/vega/node_modules, "
                 "filled by scripts/setup.sh)");
  cmd.add_option("--config-dir", o.config_dir, "folder with talks.toml (default: the source tree's configs/)");
}

int report_command(const ReportFlags& f) {
  ReportInput input;
  for (const std::string& file : f.files) input.runs.push_back(load_result(file));
  const std::filesystem::path config_dir = f.config_dir.empty() ? default_config_dir() : std::filesystem::path(f.config_dir);
  input.talks = load_talks(config_dir / "talks.toml");
  for (const Experiment& e : registry().experiments()) input.experiment_descriptions[e.name] = e.description;

  const std::filesystem::path vega_dir = f.vega_dir.empty() ? default_vega_dir() : std::filesystem::path(f.vega_dir);
  const auto vendor = vega_files(vega_dir);
  for (const auto& [source, name] : vendor) {
    if (!std::filesystem::is_regular_file(source)) {
      throw InputError(fmt::format("report: {} not found: run scripts/setup.sh (npm ci in third_party/vega) or pass "
                                   "--vega-dir",
                                   source.string()));
    }
  }
  for (const ResultDoc& doc : input.runs) {
    for (const std::string& w : doc.warnings) fmt::print(stderr, "bench report: warning: {}\n", w);
  }
  const std::map<std::string, std::string> pages = render_report(input);

  const std::filesystem::path out(f.out);
  std::error_code ec;
  std::filesystem::create_directories(out / "vendor", ec);
  if (ec) throw InputError(fmt::format("report: cannot create {}: {}", (out / "vendor").string(), ec.message()));
  for (const auto& [name, text] : pages) write_file_atomically(out / name, text);
  for (const auto& [source, name] : vendor) {
    std::filesystem::copy_file(source, out / "vendor" / name, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) throw InputError(fmt::format("report: cannot copy {} into {}: {}", source.string(), out.string(), ec.message()));
  }
  fmt::print("bench report: {} pages from {} result file{} in {} (open {})\n", pages.size(), input.runs.size(),
             input.runs.size() == 1 ? "" : "s", out.string(), (out / "index.html").string());
  return 0;
}

}  // namespace talklab::bench
