// kernels/cuda/checkpointing/step_ops.cu, unchanged, compiled by the host compiler for the SIMT emulator (the
// build force-includes kernels/simt/simt.h, which spells the CUDA built-ins the kernel uses).
#include "kernels/cuda/checkpointing/step_ops.cu"
