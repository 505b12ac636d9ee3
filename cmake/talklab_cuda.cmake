# CUDA is optional at build time: TALKLAB_CUDA=AUTO (default) compiles the CUDA code when nvcc is found,
# ON requires it, OFF leaves it out. At run time a CUDA build still works on a machine with no GPU:
# CUDA cases are recorded as skipped with the reason the runtime gave.
set(TALKLAB_CUDA AUTO CACHE STRING "Compile CUDA code: AUTO, ON or OFF")
set_property(CACHE TALKLAB_CUDA PROPERTY STRINGS AUTO ON OFF)

# The project's CPU machines have nvcc 13 under /usr/local/cuda but not cuBLAS: there CUDA::cublasLt comes from
# PyPI's nvidia-cublas wheel (pinned in requirements.txt, installed into .venv by scripts/setup.sh), which ships
# cublasLt.h and libcublasLt.so.13 under nvidia/cu13 but no unversioned libcublasLt.so for find_library to see.
# A toolkit that has cuBLAS (a GPU box's) is used as it is.
function(talklab_cublaslt_from_pypi)
  if(TARGET CUDA::cublasLt)
    return()
  endif()
  execute_process(COMMAND "${TALKLAB_PYTHON}" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
                  OUTPUT_VARIABLE purelib OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  set(wheel "${purelib}/nvidia/cu${CUDAToolkit_VERSION_MAJOR}")
  set(library "${wheel}/lib/libcublasLt.so.${CUDAToolkit_VERSION_MAJOR}")
  if(NOT rc EQUAL 0 OR NOT EXISTS "${wheel}/include/cublasLt.h" OR NOT EXISTS "${library}")
    message(FATAL_ERROR "talklab: cuBLASLt is missing from ${CUDAToolkit_LIBRARY_DIR} and from ${wheel} (PyPI's "
                        "nvidia-cublas for CUDA ${CUDAToolkit_VERSION_MAJOR}): run scripts/setup.sh, or configure "
                        "with -DTALKLAB_CUDA=OFF (preset cpu)")
  endif()
  add_library(CUDA::cublasLt SHARED IMPORTED GLOBAL)
  set_target_properties(CUDA::cublasLt PROPERTIES IMPORTED_LOCATION "${library}"
                        INTERFACE_INCLUDE_DIRECTORIES "${wheel}/include")
  message(STATUS "talklab: cuBLASLt is missing from ${CUDAToolkit_LIBRARY_DIR}: using PyPI's nvidia-cublas, ${library}")
endfunction()

set(TALKLAB_HAVE_CUDA OFF)
if(NOT TALKLAB_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Hopper (H100/H200) is the target of the GPU issues; sm_90a enables wgmma where a kernel asks.
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    talklab_cublaslt_from_pypi()
    set(TALKLAB_HAVE_CUDA ON)
  elseif(TALKLAB_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TALKLAB_CUDA=ON but no CUDA compiler was found (looked for nvcc on PATH and in /usr/local/cuda/bin)")
  endif()
endif()
message(STATUS "talklab: CUDA ${TALKLAB_HAVE_CUDA} (TALKLAB_CUDA=${TALKLAB_CUDA})")

# talklab_cuda_cxx20(target): C++20 for a target with .cu sources. CMake 3.25 knows no C++20 flag for nvcc
# and stops at generate time ("requires the language dialect CUDA20") when a CUDA target asks for it, as
# CXX_STANDARD 20 REQUIRED does when CUDA_STANDARD is unset; there the flag is passed by hand.
function(talklab_cuda_cxx20 target)
  if(DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set_property(TARGET ${target} PROPERTY CUDA_STANDARD 20)
  else()
    set_property(TARGET ${target} PROPERTY CUDA_STANDARD)
    set_property(TARGET ${target} PROPERTY CUDA_STANDARD_REQUIRED OFF)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  endif()
endfunction()
