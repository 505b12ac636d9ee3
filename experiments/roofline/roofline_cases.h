// The CUDA half of the roofline experiment (roofline_cuda.cpp): declared in every build, so a CPU-only
// build lists the CUDA ceilings and records them as skipped with the reason.
#pragma once

#include <string>
#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::roofline {

std::vector<std::string> cuda_ceilings();            // "cublaslt_bf16", ..., "d2d_copy"
std::vector<Implementation> cuda_implementations();  // cublaslt, cuda_copy
Work cuda_work(const CaseContext& ctx);

}  // namespace talklab::experiments::roofline
