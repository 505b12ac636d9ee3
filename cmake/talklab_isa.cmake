# CPU kernels are portable: the baseline build uses no ISA beyond x86-64, and each ISA-specific
# translation unit is compiled with its own flags and chosen at run time from the CPU's flags
# (kernels/cpu/cpu_features.h). A file opts in by its name:
#   *_avx512.cpp  AVX-512 F/BW/VL/DQ with BF16 and VNNI (Zen 4+, Sapphire Rapids+)
#   *_avx2.cpp    AVX2 with FMA and F16C
# Code in such a file lives in a namespace named after its ISA, so that an inline function compiled
# with AVX-512 can never be picked by the linker for a caller on an AVX2 machine.
set(TALKLAB_AVX512_FLAGS -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mfma -mf16c -mbmi2)
set(TALKLAB_AVX2_FLAGS -mavx2 -mfma -mf16c -mbmi2)


# talklab_kernel_sources(file...): add CPU kernel sources (relative to the calling folder) to
# talklab_kernels_cpu, with their ISA flags.
function(talklab_kernel_sources)
  set(abs)
  foreach(src IN LISTS ARGN)
    list(APPEND abs ${CMAKE_CURRENT_SOURCE_DIR}/${src})
  endforeach()
  target_sources(talklab_kernels_cpu PRIVATE ${abs})
  foreach(src IN LISTS abs)
    if(src MATCHES "_avx512\\.cpp$")
      set_property(SOURCE ${src} TARGET_DIRECTORY talklab_kernels_cpu APPEND PROPERTY COMPILE_OPTIONS ${TALKLAB_AVX512_FLAGS})
    elseif(src MATCHES "_avx2\\.cpp$")
      set_property(SOURCE ${src} TARGET_DIRECTORY talklab_kernels_cpu APPEND PROPERTY COMPILE_OPTIONS ${TALKLAB_AVX2_FLAGS})
    endif()
  endforeach()
endfunction()
