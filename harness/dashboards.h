// Result files in the shapes dashboards read. github-action-benchmark (benchmark-action/github-action-benchmark)
// keeps one series per entry name and a tool kind per file: `customSmallerIsBetter` and `customBiggerIsBetter`
// are arrays of {name, unit, value, range?, extra?}. Names are stable: the case's name for its time and its rate,
// the case's name followed by " (peak memory)" or " (SQNR)" for those, so a series survives across runs and a
// renamed case starts a new one. `bench export` writes both files; `bench compare --github-benchmark` writes NEW's.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "harness/compare.h"

namespace talklab {

// Times (median, in `time_unit`: ns, us, ms or s, with half the IQR as range) and peak memory (MiB) of every case ok.
nlohmann::json github_smaller_is_better(const ResultDoc& doc, const std::string& time_unit);
// Rates (TFLOP/s, TOP/s for int8, or GB/s for cases that declare only bytes) and SQNR (dB, where finite).
nlohmann::json github_bigger_is_better(const ResultDoc& doc);

}  // namespace talklab
