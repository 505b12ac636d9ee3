#include "experiments/checkpointing/costs.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>
#include <mutex>
#include <string>

#include "experiments/checkpointing/ops.h"
#include "harness/sampler.h"
#include "harness/torch_glue.h"

namespace talklab::experiments::checkpointing {
namespace {

constexpr int kCostRepeats = 5;
constexpr int kLaunches = 10;

std::string cost_key(const Graph& g, const Node& n, const at::TensorOptions& options) {
  const Value& in = g.values[size_t(n.inputs[0])];
  const Value& out = g.values[size_t(n.output)];
  return fmt::format("{}/{}x{}->{}x{}/s{}h{}g{}{}/{}/{}", op_name(n.kind), in.rows, in.cols, out.rows, out.cols,
                     g.shape.seq, g.shape.heads, g.shape.heads_per_pass, g.shape.flash_attention() ? "f" : "",
                     c10::toString(options.dtype()),
                     options.device().str());
}

double time_node(const Graph& g, const Node& n, const at::TensorOptions& options) {
  std::vector<at::Tensor> values(g.values.size());
  for (int v : n.inputs) values[size_t(v)] = at::randn({g.values[size_t(v)].rows, g.values[size_t(v)].cols}, options);
  std::vector<at::Tensor> params(g.params.size());
  if (n.param >= 0) {
    params[size_t(n.param)] = at::randn({g.params[size_t(n.param)].rows, g.params[size_t(n.param)].cols}, options);
  }
  // On CUDA a sample is kLaunches back-to-back forwards and one wait: a single launch would time the wait.
  const int launches = options.device().is_cuda() ? kLaunches : 1;
  const auto sample = [&] {
    for (int i = 0; i < launches; ++i) op_forward(g, n, values, params);
    if (launches > 1) torch_cuda_synchronize();
  };
  sample();  // warm-up
  return median_wall_seconds(sample, kCostRepeats) / launches;
}

}  // namespace

std::vector<double> measure_costs(const Graph& g, at::TensorOptions options) {
  static std::mutex mutex;
  static std::map<std::string, double> cache;
  std::vector<double> costs;
  for (const Node& n : g.nodes) {
    const std::string key = cost_key(g, n, options);
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, time_node(g, n, options)).first;
    costs.push_back(it->second);
  }
  return costs;
}

}  // namespace talklab::experiments::checkpointing
