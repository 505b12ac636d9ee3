// The embedded interpreter itself, without ATen: whether this build has one, starting it, and what it is. The
// anchors (Args, Anchor, AnchorCase) are in harness/python.h; the session starts the interpreter through this
// header before a run that selects an anchor, so its cost falls outside every case.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace talklab::python {

// Whether this build embeds CPython; when it does not, why (what CMake could not find).
bool compiled_in();
std::string missing_reason();

// Starts the interpreter and imports torch, once per process. Throws CaseSkipped naming the problem when it
// cannot (no interpreter in this build, torch not importable, torch not the LibTorch bench links).
void start();
bool started();

// What a reader of a result needs to know of the interpreter that ran the anchors (empty object before start()):
// Python's version and executable, torch's version and file, the Inductor cache directory and compile threads.
nlohmann::json describe();

}  // namespace talklab::python
