# LibTorch comes from an installed PyTorch 2.x, never from a separate package: `.venv`'s (scripts/setup.sh pins
# torch in requirements.txt) on a CPU machine, the box's own on a GPU box. Where it is:
#   1. TALKLAB_TORCH_PREFIX (cache variable or environment): a torch.utils.cmake_prefix_path, or
#   2. what TALKLAB_PYTHON answers for torch.utils.cmake_prefix_path; TALKLAB_PYTHON defaults to the project's
#      .venv/bin/python when it exists, else the python3 on PATH (the GPU box's).
# The chosen prefix must hold a LibTorch of at least kTalklabMinTorch: anything else stops here, naming the path
# and the version found.
#
# One OpenMP runtime per process: the torch wheel ships its own libgomp.so.1 beside libtorch_cpu.so. Our kernels
# are compiled with -fopenmp and linked against that very file (talklab_openmp below), so a bench process maps
# one runtime and LibTorch's threads and ours share one pool. With two runtimes, both pools spin on the same 2
# cores and stall each other for whole scheduler ticks (tests/bench: OneOpenMPRuntime checks a running bench).
set(kTalklabMinTorch 2.6)

set(TALKLAB_TORCH_PREFIX "$ENV{TALKLAB_TORCH_PREFIX}" CACHE PATH
    "torch.utils.cmake_prefix_path of the PyTorch whose LibTorch to build against (empty: ask TALKLAB_PYTHON)")
if(EXISTS "${PROJECT_SOURCE_DIR}/.venv/bin/python")
  set(talklab_default_python "${PROJECT_SOURCE_DIR}/.venv/bin/python")
else()
  find_program(talklab_default_python NAMES python3 python REQUIRED)
endif()
set(TALKLAB_PYTHON "${talklab_default_python}" CACHE FILEPATH
    "Python interpreter with torch installed (LibTorch's location; bench report renders its SVG charts with it)")

if(TALKLAB_TORCH_PREFIX STREQUAL "")
  execute_process(COMMAND "${TALKLAB_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE talklab_prefix ERROR_VARIABLE talklab_error RESULT_VARIABLE talklab_rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT talklab_rc EQUAL 0)
    string(STRIP "${talklab_error}" talklab_error)
    string(REGEX REPLACE ".*\n" "" talklab_error "${talklab_error}")
    message(FATAL_ERROR "talklab: ${TALKLAB_PYTHON} cannot import torch (${talklab_error}): run scripts/setup.sh, "
                        "which installs the pinned torch into .venv, or set TALKLAB_TORCH_PREFIX")
  endif()
  set(TALKLAB_TORCH_PREFIX "${talklab_prefix}" CACHE PATH "" FORCE)
endif()

set(talklab_torch_version_file "${TALKLAB_TORCH_PREFIX}/Torch/TorchConfigVersion.cmake")
if(NOT EXISTS "${talklab_torch_version_file}")
  message(FATAL_ERROR "talklab: TALKLAB_TORCH_PREFIX=${TALKLAB_TORCH_PREFIX} holds no LibTorch "
                      "(${talklab_torch_version_file} is missing): give torch.utils.cmake_prefix_path of PyTorch "
                      ">= ${kTalklabMinTorch}")
endif()
file(STRINGS "${talklab_torch_version_file}" talklab_version_line REGEX "set\\(PACKAGE_VERSION \"[^\"]*\"\\)")
string(REGEX REPLACE ".*PACKAGE_VERSION \"([^\"]*)\".*" "\\1" talklab_torch_version "${talklab_version_line}")
if(talklab_torch_version STREQUAL "" OR talklab_torch_version VERSION_LESS kTalklabMinTorch)
  message(FATAL_ERROR "talklab: the LibTorch at ${TALKLAB_TORCH_PREFIX} is version '${talklab_torch_version}'; "
                      "talklab needs PyTorch >= ${kTalklabMinTorch} (scripts/setup.sh installs the pinned one into .venv)")
endif()

find_package(Torch REQUIRED CONFIG PATHS "${TALKLAB_TORCH_PREFIX}" NO_DEFAULT_PATH)
get_filename_component(TALKLAB_TORCH_LIB_DIR "${TORCH_INSTALL_PREFIX}/lib" ABSOLUTE)
message(STATUS "talklab: LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")

# LibTorch's imported targets carry -D_GLIBCXX_USE_CXX11_ABI; everything we link against it must agree.
add_library(talklab_torch INTERFACE)
target_link_libraries(talklab_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(talklab_torch INTERFACE ${TORCH_CXX_FLAGS})

# The OpenMP runtime libtorch_cpu.so resolves to (the wheel's own, found through its $ORIGIN runpath). Read with
# the loader itself (ldd), so a PyTorch linked against the system's runtime gives that one instead.
execute_process(COMMAND ldd "${TALKLAB_TORCH_LIB_DIR}/libtorch_cpu.so" OUTPUT_VARIABLE talklab_ldd
                RESULT_VARIABLE talklab_rc)
string(REGEX MATCH "libgomp[^ \t]* => ([^ \t]+)" talklab_gomp_line "${talklab_ldd}")
set(TALKLAB_OPENMP_RUNTIME "${CMAKE_MATCH_1}")
if(NOT talklab_rc EQUAL 0 OR TALKLAB_OPENMP_RUNTIME STREQUAL "" OR NOT EXISTS "${TALKLAB_OPENMP_RUNTIME}")
  message(FATAL_ERROR "talklab: cannot tell which libgomp ${TALKLAB_TORCH_LIB_DIR}/libtorch_cpu.so loads (ldd: "
                      "'${talklab_gomp_line}'); talklab's kernels must share LibTorch's OpenMP runtime")
endif()
get_filename_component(TALKLAB_OPENMP_RUNTIME "${TALKLAB_OPENMP_RUNTIME}" ABSOLUTE)
message(STATUS "talklab: OpenMP runtime ${TALKLAB_OPENMP_RUNTIME} (LibTorch's)")
add_library(talklab_openmp INTERFACE)
target_compile_options(talklab_openmp INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fopenmp>)
# The file itself, not -lgomp: the linker would otherwise take the compiler's copy, and the loader would then map
# whichever of the two it met first.
target_link_libraries(talklab_openmp INTERFACE "${TALKLAB_OPENMP_RUNTIME}" Threads::Threads)
