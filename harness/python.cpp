// The embedded interpreter (python.h). Built in two forms: with TALKLAB_HAVE_PYTHON (CMake found the embeddable
// CPython of TALKLAB_PYTHON) the real one; without, every anchor is skipped with the reason CMake recorded.
#include "harness/python.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>

#include "harness/memory.h"
#include "harness/sampler.h"
#include "harness/torch_glue.h"

#if TALKLAB_HAVE_PYTHON
#include <ATen/DLConvertor.h>
#include <pybind11/embed.h>

#include <filesystem>
#include <map>
#endif

namespace talklab::python {

bool compiled_in() { return TALKLAB_HAVE_PYTHON != 0; }

std::string missing_reason() {
  return compiled_in() ? "" : "bench embeds no Python in this build: " TALKLAB_PYTHON_MISSING;
}

#if TALKLAB_HAVE_PYTHON
namespace py = pybind11;
namespace {

// Process-wide state, leaked on purpose: Python objects must not be released by static destructors after the
// interpreter (which is never finalized) has stopped running threads.
struct Interpreter {
  bool tried = false;
  std::string error;  // why start() failed, "" when it succeeded
  py::object from_dlpack, to_dlpack;
  py::object dynamo_reset;  // torch._dynamo.reset
  std::map<std::string, py::object> modules;  // by file
  nlohmann::json facts = nlohmann::json::object();
  // The main thread's state while it does not hold the GIL: released once started, so that C++ code that runs
  // between anchors (LibTorch autograd under torch's PythonEngine refuses a caller that holds the GIL) runs as in a
  // process without Python; every entry point below takes the GIL back for the time it runs Python.
  PyThreadState* released = nullptr;
};

Interpreter& interpreter() {
  static Interpreter* state = new Interpreter;
  return *state;
}

std::string executable() {
  const char* env = std::getenv("TALKLAB_PYTHON");
  return env != nullptr && *env != '\0' ? env : TALKLAB_PYTHON_EXECUTABLE;
}

// "TypeError: message" from the exception being handled, its first line only when the message runs on (Dynamo's
// and Inductor's messages append a whole traceback and a link to their docs).
std::string message_of(const py::error_already_set& e) {
  std::string text = e.what();
  const size_t newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  constexpr size_t kMax = 600;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

void initialize() {
  Interpreter& state = interpreter();
  const std::string exe = executable();
  if (!std::filesystem::exists(exe)) {
    throw std::runtime_error(fmt::format("the interpreter {} does not exist (TALKLAB_PYTHON names the venv's "
                                         "python; scripts/setup.sh makes .venv)", exe));
  }
  // Inductor compiles its C++ in worker processes unless told otherwise; in bench they would be extra processes
  // on the cores we time, so it compiles in this process. setenv without overwrite: the user's choice stands.
  setenv("TORCHINDUCTOR_COMPILE_THREADS", "1", 0);
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;  // Ctrl-C stays bench's
  config.parse_argv = 0;
  // The venv's python as the executable: Python finds the venv's pyvenv.cfg beside it, hence its site-packages,
  // and sys.executable names a real interpreter for anything that starts a subprocess.
  PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, exe.c_str());
  if (!PyStatus_Exception(status)) status = PyConfig_SetBytesString(&config, &config.executable, exe.c_str());
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    throw std::runtime_error(fmt::format("CPython did not start from {}: {}", exe,
                                         status.err_msg != nullptr ? status.err_msg : "unknown error"));
  }

  py::module_ torch = py::module_::import("torch");
  const std::string version = py::str(torch.attr("__version__"));
  // The same LibTorch, not an equal one: libtorch_cpu.so of the imported torch must be the file bench links.
  const py::module_ os = py::module_::import("os");
  const std::string lib_dir = py::str(os.attr("path").attr("realpath")(
      os.attr("path").attr("join")(os.attr("path").attr("dirname")(torch.attr("__file__")), "lib")));
  const std::string linked = std::filesystem::weakly_canonical(TALKLAB_TORCH_LIB_DIR).string();
  if (lib_dir != linked) {
    throw std::runtime_error(fmt::format("{}'s torch {} loads its LibTorch from {}, not from {} which bench links: "
                                         "its tensors would come from another allocator",
                                         exe, version, lib_dir, linked));
  }
  // Never a silent fallback to uncompiled code once Dynamo's recompile limit is hit (python.h, Anchor).
  const py::module_ dynamo_config = py::module_::import("torch._dynamo.config");
  if (py::hasattr(dynamo_config, "fail_on_recompile_limit_hit"))
    dynamo_config.attr("fail_on_recompile_limit_hit") = true;
  state.dynamo_reset = py::module_::import("torch._dynamo").attr("reset");
  const py::module_ dlpack = py::module_::import("torch.utils.dlpack");
  state.from_dlpack = dlpack.attr("from_dlpack");
  state.to_dlpack = dlpack.attr("to_dlpack");

  const py::module_ sys = py::module_::import("sys");
  nlohmann::json& f = state.facts;
  f["python"] = std::string(py::str(sys.attr("version")).cast<std::string>().substr(0, 6));
  f["python_executable"] = py::str(sys.attr("executable")).cast<std::string>();
  f["torch"] = version;
  f["torch_file"] = py::str(torch.attr("__file__")).cast<std::string>();
  f["inductor_compile_threads"] = std::getenv("TORCHINDUCTOR_COMPILE_THREADS");
  try {
    const py::module_ cache = py::module_::import("torch._inductor.runtime.cache_dir_utils");
    f["inductor_cache_dir"] = py::str(cache.attr("cache_dir")()).cast<std::string>();
  } catch (const py::error_already_set& e) {
    f["inductor_cache_dir"] = "unknown: " + message_of(e);
  }
  if (version != torch_version() && version.rfind(torch_version(), 0) != 0) {
    throw std::runtime_error(fmt::format("{}'s torch is {}, bench links LibTorch {}", exe, version, torch_version()));
  }
}

// A view of the tensor for Python: same storage, same strides.
py::object to_python(const at::Tensor& t) {
  DLManagedTensor* managed = at::toDLPack(t);
  PyObject* capsule = PyCapsule_New(managed, "dltensor", [](PyObject* c) {
    // Still named "dltensor": nobody took ownership, so the capsule frees it.
    if (PyCapsule_IsValid(c, "dltensor")) {
      auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
      if (m != nullptr && m->deleter != nullptr) m->deleter(m);
    }
  });
  if (capsule == nullptr) throw py::error_already_set();
  return interpreter().from_dlpack(py::reinterpret_steal<py::object>(capsule));
}

at::Tensor from_python(const py::handle& t) {
  py::object capsule = interpreter().to_dlpack(t.attr("detach")());
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  if (managed == nullptr) throw py::error_already_set();
  PyCapsule_SetName(capsule.ptr(), "used_dltensor");  // ours now: fromDLPack's deleter frees it
  return at::fromDLPack(managed);
}

py::object to_python(const Args::Value& v) {
  return std::visit(
      [](const auto& x) -> py::object {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, at::Tensor>) {
          return to_python(x);
        } else if constexpr (std::is_same_v<T, std::vector<at::Tensor>>) {
          py::list list;
          for (const at::Tensor& t : x) list.append(to_python(t));
          return list;
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<double>>) {
          py::list list;
          for (const auto& e : x) list.append(py::cast(e));
          return list;
        } else {
          return py::cast(x);
        }
      },
      v);
}

py::object module_of(const std::string& file) {
  Interpreter& state = interpreter();
  auto found = state.modules.find(file);
  if (found != state.modules.end()) return found->second;
  const std::filesystem::path path = std::filesystem::path(TALKLAB_SOURCE_DIR) / file;
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error(fmt::format("anchor {} not found (looked at {})", file, path.string()));
  }
  const py::module_ util = py::module_::import("importlib.util");
  const std::string name = "talklab_anchor_" + path.stem().string();
  py::object spec = util.attr("spec_from_file_location")(name, path.string());
  py::object module = util.attr("module_from_spec")(spec);
  py::module_::import("sys").attr("modules")[py::str(name)] = module;
  spec.attr("loader").attr("exec_module")(module);
  state.modules.emplace(file, module);
  return module;
}

}  // namespace

void start() {
  Interpreter& state = interpreter();
  if (!state.tried) {
    state.tried = true;
    try {
      initialize();
    } catch (const py::error_already_set& e) {
      state.error = fmt::format("the embedded Python could not import torch: {}", message_of(e));
    } catch (const std::exception& e) {
      state.error = e.what();
    }
    if (Py_IsInitialized() && PyGILState_Check()) state.released = PyEval_SaveThread();
  }
  if (!state.error.empty()) throw CaseSkipped(state.error);
}

bool started() { return interpreter().tried && interpreter().error.empty(); }

nlohmann::json describe() { return started() ? interpreter().facts : nlohmann::json::object(); }

// Hidden, as pybind11's own types are (GCC warns when a visible type holds a hidden one).
struct __attribute__((visibility("hidden"))) Anchor::State {
  py::object prepared;
};

Anchor::Anchor(const std::string& file, const std::string& function, const Args& args) {
  start();
  const py::gil_scoped_acquire gil;
  try {
    py::dict kwargs;
    for (const auto& [name, value] : args.values()) kwargs[py::str(name)] = to_python(value);
    state_ = std::make_unique<State>();
    interpreter().dynamo_reset();  // this case's compiles counted from zero (python.h)
    state_->prepared = module_of(file).attr(function.c_str())(**kwargs);
  } catch (const py::error_already_set& e) {
    state_.reset();
    throw CaseSkipped(fmt::format("{} {}: {}", file, function, message_of(e)));
  }
}

Anchor::~Anchor() {
  if (state_ == nullptr) return;
  const py::gil_scoped_acquire gil;
  state_.reset();
}

std::vector<at::Tensor> Anchor::run() {
  const py::gil_scoped_acquire gil;
  std::vector<at::Tensor> out;
  try {
    py::object result = state_->prepared.attr("run")();
    if (result.is_none()) return out;
    if (py::isinstance<py::tuple>(result) || py::isinstance<py::list>(result)) {
      for (const py::handle item : result) out.push_back(from_python(item));
    } else {
      out.push_back(from_python(result));
    }
  } catch (const py::error_already_set& e) {
    throw std::runtime_error(message_of(e));
  }
  return out;
}

Counters Anchor::counters() const {
  const py::gil_scoped_acquire gil;
  Counters out;
  if (py::hasattr(state_->prepared, "counters")) {
    for (const auto& [k, v] : state_->prepared.attr("counters").cast<py::dict>()) {
      out.emplace_back(py::str(k).cast<std::string>(), v.cast<double>());
    }
  }
  return out;
}

Labels Anchor::labels() const {
  const py::gil_scoped_acquire gil;
  Labels out;
  if (py::hasattr(state_->prepared, "labels")) {
    for (const auto& [k, v] : state_->prepared.attr("labels").cast<py::dict>()) {
      out.emplace_back(py::str(k).cast<std::string>(), py::str(v).cast<std::string>());
    }
  }
  return out;
}

#else  // no embeddable CPython in this build

void start() { throw CaseSkipped(missing_reason()); }
bool started() { return false; }
nlohmann::json describe() { return nlohmann::json::object(); }

struct Anchor::State {};
Anchor::Anchor(const std::string&, const std::string&, const Args&) { start(); }
Anchor::~Anchor() = default;
std::vector<at::Tensor> Anchor::run() { throw std::runtime_error(missing_reason()); }
Counters Anchor::counters() const { return {}; }
Labels Anchor::labels() const { return {}; }

#endif

void AnchorCase::setup() {
  start();  // normally done by the session before the run: its seconds are never an anchor's prepare_s
  const Args args = anchor_args();
  prepare_s_ = wall_seconds([&] { anchor_ = std::make_unique<Anchor>(file_, function_, args); });
  try {
    compile_s_ = wall_seconds([&] { outputs_ = anchor_->run(); });
  } catch (const std::exception& e) {
    throw CaseSkipped(fmt::format("{}: the first call failed: {}", file_, e.what()));
  }
  outputs_.clear();
  memory::reset_peak();
}

void AnchorCase::add_counters(Counters& out) {
  out.emplace_back("prepare_s", prepare_s_);
  out.emplace_back("compile_s", compile_s_);
  for (auto& counter : anchor_->counters()) out.push_back(std::move(counter));
}

void AnchorCase::add_labels(Labels& out) {
  const nlohmann::json facts = describe();
  if (facts.contains("inductor_cache_dir")) out.emplace_back("inductor_cache_dir", facts["inductor_cache_dir"]);
  for (auto& label : anchor_->labels()) out.push_back(std::move(label));
}

}  // namespace talklab::python
