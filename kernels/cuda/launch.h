// TALKLAB_LAUNCH(grid, block, shared_bytes, stream, kernel)(args...): how our .cu files launch a kernel. Compiled by
// nvcc it is exactly kernel<<<grid, block, shared_bytes, stream>>>(args...); in the SIMT emulator's build
// (TALKLAB_SIMT, kernels/simt) the same line runs the kernel on the CPU. The kernel comes last so that a template
// argument list with commas needs no extra parentheses.
#pragma once

#ifdef TALKLAB_SIMT
// talklab::simt comes from kernels/simt/simt.h, which that build force-includes (-include).
#define TALKLAB_LAUNCH(grid, block, shared_bytes, stream, ...) \
  ((void)(stream), ::talklab::simt::make_launch(__VA_ARGS__, #__VA_ARGS__, (grid), (block), (shared_bytes)))
#else
#define TALKLAB_LAUNCH(grid, block, shared_bytes, stream, ...) \
  __VA_ARGS__<<<(grid), (block), (shared_bytes), (stream)>>>
#endif
