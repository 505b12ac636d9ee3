// A report page as blocks: see page.h.
#include "harness/report/page.h"

namespace talklab::report {

std::string link_target(const std::string& target, const char* ext) {
  return target.find("://") != std::string::npos ? target : target + ext;
}

std::string svg_file(const Page& p, const Chart& c) { return p.file + "-" + c.id + ".svg"; }

}  // namespace talklab::report
