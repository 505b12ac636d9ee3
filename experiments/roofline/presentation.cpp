// How the roofline experiment is shown: it measures the machine, not a technique against PyTorch, so it has no
// headline; its ceilings draw the roofline every talk page places its cases under, and the copy buffer size means
// something only for the streams.
#include "harness/presentation.h"

namespace talklab::experiments::roofline {

Presentation presentation() {
  Presentation p;
  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;
  p.charts = {roofline};
  p.axis_scopes = {{"buffer_mib", {"ceiling", {"copy", "triad", "read"}}}};
  return p;
}

}  // namespace talklab::experiments::roofline
