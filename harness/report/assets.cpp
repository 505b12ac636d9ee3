// The chart libraries and the SVG pictures: see assets.h.
#include "harness/report/assets.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "harness/config.h"

namespace talklab::report {
namespace {

namespace fs = std::filesystem;

// A shell word.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string default_python() {
  if (const char* env = std::getenv("TALKLAB_PYTHON"); env != nullptr && *env != '\0') return env;
  return TALKLAB_PYTHON;
}

fs::path chart_renderer() { return fs::path(TALKLAB_SOURCE_DIR) / "harness" / "report" / "render_charts.py"; }

void draw_charts(const std::string& python, const ReportOutput& report, const fs::path& staging) {
  nlohmann::json manifest = {{"bundle", (staging / "vendor" / "vega-bundle.js").string()},
                             {"svgs", nlohmann::json::object()}};
  for (const auto& [name, spec] : report.svgs) manifest["svgs"][(staging / name).string()] = spec;
  fs::create_directories(staging / "vendor");
  const fs::path manifest_file = staging / "charts.json";
  std::ofstream(manifest_file) << manifest.dump();
  const std::string command =
      fmt::format("{} {} {} 2>&1", quoted(python), quoted(chart_renderer().string()), quoted(manifest_file.string()));
  std::FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) throw InputError(fmt::format("report: cannot run {}", python));
  std::string output;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) output.append(buf, n);
  const int status = pclose(p);
  fs::remove(manifest_file);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!output.empty() && output.back() == '\n') output.pop_back();
    throw InputError(fmt::format("report: drawing the charts with {} failed (pass --python a Python with "
                                 "vl-convert-python, or run scripts/setup.sh): {}",
                                 python, output.empty() ? "no output" : output));
  }
}


}  // namespace talklab::report
