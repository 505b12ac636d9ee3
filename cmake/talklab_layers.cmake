# The layers, checked by construction (each folder and what it may not reach):
#   kernels/      ours: no harness, no experiment, no bench, no tests, no LibTorch
#   harness/      generic: no kernel, no experiment, no bench, no tests
#   experiments/  harness and kernels; never bench, tests, nor another experiment's folder
#   bench/        everything but tests
# talklab_check_layers() stops configure on a violation, naming it: the includes of every source under those
# folders (check_layers.py, FILE:LINE and the edge), and the link libraries of every target defined there (a target
# belongs to the layer of the folder that defines it). A build-time target (talklab_layers, in ALL) runs the
# include check again whenever a source changes, so an include added between two configures fails the build too.
# tests/cmake/check_layers.py proves the check can fail (a fixture tree with a forbidden include and link).

# Edges tolerated on purpose, as FILE:INCLUDE (none today). The check fails on an entry whose edge no longer
# exists, so an entry cannot outlive its reason.
set(TALKLAB_LAYERS_ALLOWED_INCLUDES "")

set(TALKLAB_LAYERS_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/check_layers.py)

# The layer of a folder under ROOT (kernels, harness, experiments, bench), or "" for one outside the layers.
function(_talklab_layer_of dir root out)
  set(layer "")
  file(RELATIVE_PATH rel "${root}" "${dir}")
  foreach(candidate kernels harness experiments bench)
    if(rel STREQUAL candidate OR rel MATCHES "^${candidate}/")
      set(layer ${candidate})
    endif()
  endforeach()
  set(${out} "${layer}" PARENT_SCOPE)
endfunction()

function(_talklab_targets_under dir out)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    _talklab_targets_under("${sub}" more)
    list(APPEND targets ${more})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# Link edges: "TARGET (LAYER/) may not link DEP (LAYER/ | LibTorch)" for each forbidden one.
function(_talklab_check_links root out)
  set(errors "")
  _talklab_targets_under("${root}" targets)
  foreach(target ${targets})
    get_target_property(dir ${target} SOURCE_DIR)
    _talklab_layer_of("${dir}" "${root}" layer)
    if(layer STREQUAL "")
      continue()
    endif()
    get_target_property(type ${target} TYPE)
    set(deps "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct ${target} LINK_LIBRARIES)
      if(direct)
        list(APPEND deps ${direct})
      endif()
    endif()
    get_target_property(interface ${target} INTERFACE_LINK_LIBRARIES)
    if(interface)
      list(APPEND deps ${interface})
    endif()
    list(REMOVE_DUPLICATES deps)
    foreach(dep ${deps})
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" dep "${dep}")
      if(NOT TARGET "${dep}")
        continue()
      endif()
      get_target_property(imported ${dep} IMPORTED)
      set(dep_layer "")
      if(dep MATCHES "^talklab_torch$|^torch")
        set(dep_layer LibTorch)
      elseif(NOT imported)
        get_target_property(dep_dir ${dep} SOURCE_DIR)
        file(RELATIVE_PATH dep_rel "${root}" "${dep_dir}")
        if(dep_rel MATCHES "^tests(/|$)")
          set(dep_layer tests)
        else()
          _talklab_layer_of("${dep_dir}" "${root}" dep_layer)
        endif()
      endif()
      set(forbidden "")
      if(layer STREQUAL "kernels" AND dep_layer MATCHES "^(harness|experiments|bench|tests|LibTorch)$")
        set(forbidden TRUE)
      elseif(layer STREQUAL "harness" AND dep_layer MATCHES "^(kernels|experiments|bench|tests)$")
        set(forbidden TRUE)
      elseif(layer STREQUAL "experiments" AND dep_layer MATCHES "^(bench|tests)$")
        set(forbidden TRUE)
      elseif(layer STREQUAL "bench" AND dep_layer STREQUAL "tests")
        set(forbidden TRUE)
      endif()
      if(forbidden)
        set(shown "${dep_layer}/")
        if(dep_layer STREQUAL "LibTorch")
          set(shown LibTorch)
        endif()
        list(APPEND errors "target ${target} (${layer}/) may not link ${dep} (${shown})")
      endif()
    endforeach()
  endforeach()
  set(${out} "${errors}" PARENT_SCOPE)
endfunction()

# talklab_check_layers(ROOT dir PYTHON python [ALLOW FILE:INCLUDE...]): call once every target is defined.
function(talklab_check_layers)
  cmake_parse_arguments(L "" "ROOT;PYTHON" "ALLOW" ${ARGN})
  set(allow_args "")
  foreach(edge ${L_ALLOW})
    list(APPEND allow_args --allow ${edge})
  endforeach()
  execute_process(COMMAND "${L_PYTHON}" "${TALKLAB_LAYERS_SCRIPT}" "${L_ROOT}" ${allow_args}
                  RESULT_VARIABLE include_result ERROR_VARIABLE include_errors OUTPUT_QUIET)
  _talklab_check_links("${L_ROOT}" link_errors)
  if(NOT include_result EQUAL 0 OR link_errors)
    set(message "")
    if(NOT include_result EQUAL 0)
      string(APPEND message "${include_errors}")
    endif()
    if(link_errors)
      string(APPEND message "talklab layers: links across a forbidden edge (cmake/talklab_layers.cmake):\n")
      foreach(e ${link_errors})
        string(APPEND message "  ${e}\n")
      endforeach()
    endif()
    message(FATAL_ERROR "${message}")
  endif()

  set(sources "")
  foreach(layer kernels harness experiments bench)
    file(GLOB_RECURSE found CONFIGURE_DEPENDS
         "${L_ROOT}/${layer}/*.h" "${L_ROOT}/${layer}/*.hpp" "${L_ROOT}/${layer}/*.cpp" "${L_ROOT}/${layer}/*.cc"
         "${L_ROOT}/${layer}/*.cu" "${L_ROOT}/${layer}/*.cuh" "${L_ROOT}/${layer}/*.inl")
    list(APPEND sources ${found})
  endforeach()
  set(stamp "${CMAKE_BINARY_DIR}/talklab_layers.stamp")
  add_custom_command(OUTPUT "${stamp}"
                     COMMAND "${L_PYTHON}" "${TALKLAB_LAYERS_SCRIPT}" "${L_ROOT}" ${allow_args} --stamp "${stamp}"
                     DEPENDS ${sources} "${TALKLAB_LAYERS_SCRIPT}"
                     COMMENT "Checking the layers' includes (cmake/talklab_layers.cmake)")
  add_custom_target(talklab_layers ALL DEPENDS "${stamp}")
endfunction()
