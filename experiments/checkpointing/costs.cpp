#include "experiments/checkpointing/costs.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>
#include <mutex>
#include <string>

#include "experiments/checkpointing/ops.h"
#include "harness/sampler.h"

namespace talklab::experiments::checkpointing {
namespace {

constexpr int kCostRepeats = 5;

std::string cost_key(const Graph& g, const Node& n) {
  const Value& in = g.values[size_t(n.inputs[0])];
  const Value& out = g.values[size_t(n.output)];
  return fmt::format("{}/{}x{}->{}x{}/s{}h{}", op_name(n.kind), in.rows, in.cols, out.rows, out.cols, g.shape.seq,
                     g.shape.heads);
}

double time_node(const Graph& g, const Node& n) {
  std::vector<at::Tensor> values(g.values.size());
  for (int v : n.inputs) values[size_t(v)] = at::randn({g.values[size_t(v)].rows, g.values[size_t(v)].cols});
  std::vector<at::Tensor> params(g.params.size());
  if (n.param >= 0) params[size_t(n.param)] = at::randn({g.params[size_t(n.param)].rows, g.params[size_t(n.param)].cols});
  op_forward(g, n, values, params);  // warm-up
  return median_wall_seconds([&] { op_forward(g, n, values, params); }, kCostRepeats);
}

}  // namespace

std::vector<double> measure_costs(const Graph& g) {
  static std::mutex mutex;
  static std::map<std::string, double> cache;
  std::vector<double> costs;
  for (const Node& n : g.nodes) {
    const std::string key = cost_key(g, n);
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, time_node(g, n)).first;
    costs.push_back(it->second);
  }
  return costs;
}

}  // namespace talklab::experiments::checkpointing
