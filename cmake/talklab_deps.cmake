# LibTorch and the OpenMP runtime come from an installed PyTorch (cmake/talklab_torch.cmake); every other
# dependency from Debian's packages (scripts/setup.sh) or, on a GPU box, from .deps/ (scripts/gpu_box_deps.sh).
find_package(Threads REQUIRED)
include(talklab_torch)
find_package(benchmark REQUIRED)
# fmt header-only (fmt::fmt-header-only): the torch wheel's include folder carries its own fmt (12), which shadows
# Debian's headers (/usr/include comes last) in every file that sees LibTorch's includes; linked against Debian's
# libfmt (9 or 10) those files miss fmt::v12 symbols. Header-only, each file uses the fmt it includes, under that
# version's own inline namespace, and no libfmt is linked.
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)

# Does this LibTorch have CUDA? A CUDA build's package files import the c10_cuda and torch_cuda targets and
# find libc10_cuda (C10_CUDA_LIBRARY); the CPU wheel (torch==2.13.0+cpu) has none of them. With
# TALKLAB_TORCH_CUDA=1 the LibTorch CUDA baselines (experiments/*/*_torch_cuda.cpp) are compiled; with 0 they
# are still declared, and skipped with "LibTorch was built without CUDA".
if(TARGET c10_cuda OR TARGET torch_cuda OR C10_CUDA_LIBRARY)
  set(TALKLAB_TORCH_CUDA ON)
else()
  set(TALKLAB_TORCH_CUDA OFF)
endif()
target_compile_definitions(talklab_torch INTERFACE TALKLAB_TORCH_CUDA=$<BOOL:${TALKLAB_TORCH_CUDA}>)
message(STATUS "talklab: LibTorch CUDA ${TALKLAB_TORCH_CUDA}")
option(TALKLAB_REQUIRE_TORCH_CUDA "Stop at configure time when the LibTorch found has no CUDA (scripts/gpu_box.sh)" OFF)
if(TALKLAB_REQUIRE_TORCH_CUDA AND NOT TALKLAB_TORCH_CUDA)
  message(FATAL_ERROR "TALKLAB_REQUIRE_TORCH_CUDA=ON but LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX} has no "
                      "CUDA (no c10_cuda / torch_cuda): point TALKLAB_TORCH_PREFIX at a CUDA build of PyTorch")
endif()
