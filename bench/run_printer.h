// What `bench run` prints as its session goes (harness/session.h): the ceilings, a live line per case, the summary
// table and the closing counts on stdout; warnings and notes on stderr, prefixed "bench:".
#pragma once

#include "harness/session.h"

namespace talklab::bench {

class RunPrinter final : public SessionObserver {
 public:
  void warning(const std::string& text) override;
  void note(const std::string& text) override;
  void measuring_ceilings(Device device, const RunSettings& settings, const GpuInfo& gpu) override;
  void ceilings(Device device, const Roofline& roofline) override;
  void started(const RunSettings& settings, size_t cases, const std::filesystem::path& out) override;
  void result(const CaseResult& r, int index, int total) override;
  void finished(const RunSummary& summary, const RunSettings& settings, const std::filesystem::path& out) override;
};

}  // namespace talklab::bench
