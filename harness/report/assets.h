// What a report needs besides its pages: the chart libraries (vendor/vega-bundle.js and vl-convert's license) and
// each chart's static SVG, drawn by harness/report/render_charts.py with a Python that has vl-convert-python.
#pragma once

#include <filesystem>
#include <string>

#include "harness/report/report.h"

namespace talklab::report {

// The Python that draws the charts (vl-convert-python, from requirements.txt): --python, else TALKLAB_PYTHON in the
// environment, else the interpreter CMake found torch in (.venv's).
std::string default_python();
// harness/report/render_charts.py in the source tree: writes vendor/vega-bundle.js and the SVGs (its header says how).
std::filesystem::path chart_renderer();
// Writes the bundle and every SVG of `report` under `dir` (vendor/ and the SVG names); throws InputError, with
// the renderer's output, when the Python cannot draw them.
void draw_charts(const std::string& python, const ReportOutput& report, const std::filesystem::path& dir);

}  // namespace talklab::report
