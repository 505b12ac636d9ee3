# Every dependency comes from the system (Debian packages on a CPU machine; see scripts/setup.sh) or,
# for LibTorch on a GPU box, from the installed PyTorch (CMAKE_PREFIX_PATH, see CMakePresets.json).
find_package(Torch REQUIRED)
find_package(benchmark REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)

# LibTorch's imported targets carry -D_GLIBCXX_USE_CXX11_ABI; everything we link against it must agree.
add_library(talklab_torch INTERFACE)
target_link_libraries(talklab_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(talklab_torch INTERFACE ${TORCH_CXX_FLAGS})
message(STATUS "talklab: LibTorch ${Torch_VERSION}")

# Does this LibTorch have CUDA? A CUDA build's package files import the c10_cuda and torch_cuda targets and
# find libc10_cuda (C10_CUDA_LIBRARY); Debian's libtorch-dev 1.13 is CPU-only and has none of them. With
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
