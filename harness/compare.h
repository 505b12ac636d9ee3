// Comparing two result files: which cases got slower (only when the change is both large and significant
// under a Mann-Whitney U test on the kept samples) and which deterministic metrics got worse (accuracy,
// peak memory, executed work: those regress whatever the noise of the timings). Across different machines
// the times are compared as fractions of each run's own roofline. A slowdown can be confirmed by re-running
// the case (apply_confirmation; `bench compare --confirm N` launches the re-run). The verdict rules and the
// reasons for each tolerance are in docs/compare.md; `bench compare` is the command line over this.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace talklab {

// Tolerances of the deterministic metrics. A different seed draws different random inputs, so errors and
// SQNR jitter between two runs of the same build; FLOPs and block counts are functions of the shapes only.
inline constexpr double kErrorGrowthFactor = 2.0;    // max_rel_error may at most double...
inline constexpr double kErrorGrowthFloor = 1e-5;    // ...and a growth smaller than this is float32 jitter
inline constexpr double kSqnrDropDb = 1.0;           // SQNR may drop at most 1 dB...
inline constexpr double kSqnrIgnoreAboveDb = 100.0;  // ...unless it stays above 100 dB (beyond any 16-bit format)
inline constexpr double kMemoryGrowthFraction = 0.05;    // peak memory may grow 5%...
inline constexpr double kMemoryGrowthBytes = 64 * 1024;  // ...plus 64 KiB of allocator slack

inline constexpr double kCompareThresholdPct = 5.0;
inline constexpr double kCompareAlpha = 0.05;

// A result file as read: the context (null when a truncated file lost it: our writer sorts keys, so
// "benchmarks" comes before "context") and the entries of "benchmarks".
struct ResultDoc {
  std::string path;
  nlohmann::json context;
  std::vector<nlohmann::json> entries;
  std::vector<std::string> warnings;  // "FILE: truncated after N complete cases; comparing those"
  bool truncated = false;             // the text ended early: entries are the complete cases before the cut
};

// Parses a result file's text. Throws talklab::InputError naming `path` when the text is not JSON, when
// context.talklab.schema_version is not 1, or when a truncated text holds no complete case.
ResultDoc parse_result(const std::string& text, const std::string& path);
// Reads and parses a file; a missing or unreadable file is an InputError naming it.
ResultDoc load_result(const std::filesystem::path& path);

// Two-sided Mann-Whitney U test of "a and b come from the same distribution". Exact (the permutation
// distribution of the rank sum, with mid-ranks for ties) when a.size() + b.size() <= kMannWhitneyExactLimit;
// otherwise the normal approximation with tie correction and continuity correction.
struct MannWhitney {
  double u = 0;  // U of sample a: pairs (x in a, y in b) with x > y, ties counting one half
  double p = 1;  // two-sided p-value
  bool exact = false;
};
inline constexpr size_t kMannWhitneyExactLimit = 50;  // C(50, 25) < 2^53: the exact counts stay exact in doubles
MannWhitney mann_whitney(std::span<const double> a, std::span<const double> b);
// The smallest two-sided p-value samples of these sizes can reach (complete separation, no ties).
double min_p_value(size_t n1, size_t n2);

struct CompareOptions {
  double threshold_pct = kCompareThresholdPct;  // slower: new/base - 1 > PCT/100; faster: base/new - 1 > PCT/100
  double alpha = kCompareAlpha;
  std::optional<double> fail_on_time_ratio;  // a slower case fails only above this new/base ratio
  std::optional<double> fail_time_floor_s;   // ...and only if BASE's median is at least this many seconds,
  std::optional<double> fail_any_size_ratio; // ...unless new/base exceeds this: then whatever BASE's median
  bool strict = false;                       // a case skipped in NEW but ok in BASE is a regression
  bool allow_different_machines = false;
};

// What re-running a case that NEW called slower said: BASE against the re-run, by the same rules.
struct Confirmation {
  int runs = 0;                        // passes of the re-run (bench run --passes)
  std::optional<double> new_median_s;  // the re-run's median, seconds
  std::optional<double> ratio;         // re-run / BASE, normalized as the first comparison was
  std::optional<double> p_value;
  std::string verdict = "-";           // the time verdict of BASE against the re-run
};

struct CaseComparison {
  std::string name;
  std::string base_status, new_status;
  // Medians in seconds, as the runs wrote them. ratio is new/base of the medians, or across machines of the
  // times relative to each run's roofline (base fraction / new fraction).
  std::optional<double> base_median_s, new_median_s, ratio;
  // p_plain: two-sided Mann-Whitney p of NEW's samples against BASE's. p_value decides the verdict: for a
  // ratio beyond the threshold it compares with the other side scaled by (1 + PCT/100), so p < alpha says
  // the change exceeds the threshold, not merely that there is one; otherwise it equals p_plain.
  std::optional<double> p_value, p_plain;
  size_t base_samples = 0, new_samples = 0;  // kept samples (a run that kept "clean" ones dropped the preempted)
  // same, slower, faster, noisy, too few samples; "not confirmed" when a re-run did not reproduce a slowdown;
  // or "-" when a side was not timed (or, across machines, has no roofline fraction)
  std::string verdict = "-";
  std::vector<std::string> regressions;  // one reason each: "time 3.02x slower (p=0.0002)"
  std::vector<std::string> warnings;     // "skipped in NEW: no GPU"
  std::vector<std::string> notes;        // improvements and changes that are not worse
  std::optional<Confirmation> confirmation;  // set by apply_confirmation for the cases it re-judged
  // The line a slower verdict filed under regressions or warnings, so that a confirmation can replace it.
  std::string time_finding;
};

struct Comparison {
  std::string base_path, new_path;
  CompareOptions options;
  std::vector<CaseComparison> cases;  // cases present in both, in BASE's order
  std::vector<std::string> added, removed;
  std::optional<double> geomean_ratio;  // of new/base medians over cases ok in both
  int geomean_cases = 0;
  std::vector<std::string> warnings;  // per file: truncation, lost context
  // The runs came from different machines: every ratio compares fractions of each run's own roofline.
  bool normalized_by_roofline = false;
  int confirm_runs = 0;  // bench compare --confirm N; 0 when slowdowns were not re-run
  int regression_count() const;
};

// Matches cases by name and applies the rules. Throws talklab::InputError when the runs come from
// different machines and options.allow_different_machines is false. A machine is its CPU (vendor, family,
// model and stepping when both contexts name them, else the brand string), the ISA our kernels used, and
// its GPU's name; a microcode difference alone is a warning.
// Files merged from several machines (bench merge) are checked case by case instead: a pair that ran on different
// hardware is left out, with a warning naming it, unless allow_different_machines (then compared by roofline
// fraction).
Comparison compare_results(const ResultDoc& base, const ResultDoc& now, const CompareOptions& options);

// The machine a run's context names, as compare_results tells machines apart: the CPU by CPUID (vendor, family,
// model, stepping) when by_cpuid, else by its brand string, with the ISA our kernels used and the GPU's name.
// by_cpuid only where both sides name_cpuid (files before CPUID was recorded name the brand alone).
std::string machine_key(const nlohmann::json& context, bool by_cpuid);
bool names_cpuid(const nlohmann::json& context);

// The cases whose time verdict is "slower" (a regression or, under the gate's options, a warning): the ones
// `bench compare --confirm` re-runs.
std::vector<std::string> slower_cases(const Comparison& c);

// Re-judges the slower cases against a re-run of them (`confirmation`, `runs` passes by the same build on the
// same machine), with c.options. A case the re-run reproduces stays slower, its line saying so and judged by
// the gate at the re-run's ratio; one it does not is "not confirmed", a warning and no regression. A case the
// re-run lacks, skipped or failed keeps its first verdict, with a warning saying why. Accuracy, memory and work
// stay judged on NEW.
void apply_confirmation(Comparison& c, const ResultDoc& base, const ResultDoc& confirmation, int runs);
// When the re-run produced nothing to read: every slower case keeps its first verdict, with `why`.
void keep_unconfirmed(Comparison& c, int runs, const std::string& why);

// 0 when nothing regressed, 1 otherwise (bad input is 2, thrown before a Comparison exists).
inline int compare_exit_code(const Comparison& c) { return c.regression_count() > 0 ? 1 : 0; }

}  // namespace talklab
