// kernels/cuda/checkpointing/step_ops.cu, unchanged, compiled by the host compiler for the SIMT emulator (simt.h
// comes first: it spells the CUDA built-ins the kernel uses).
#include "tests/simt/simt.h"

#include "kernels/cuda/checkpointing/step_ops.cu"
