# CUDA is optional at build time: TALKLAB_CUDA=AUTO (default) compiles the CUDA code when nvcc is found,
# ON requires it, OFF leaves it out. At run time a CUDA build still works on a machine with no GPU:
# CUDA cases are recorded as skipped with the reason the runtime gave.
set(TALKLAB_CUDA AUTO CACHE STRING "Compile CUDA code: AUTO, ON or OFF")
set_property(CACHE TALKLAB_CUDA PROPERTY STRINGS AUTO ON OFF)

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
