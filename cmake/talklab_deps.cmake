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
