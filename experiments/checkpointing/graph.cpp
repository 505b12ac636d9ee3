#include "experiments/checkpointing/graph.h"

#include <fmt/format.h>

#include "kernels/cpu/attention/flash_backward.h"

namespace talklab::experiments::checkpointing {

int64_t ModelShape::ffn() const { return (8 * d_model / 3 + 15) / 16 * 16; }

const char* op_name(OpKind kind) {
  switch (kind) {
    case OpKind::rms_normalize: return "rms_normalize";
    case OpKind::mul_weight: return "mul_weight";
    case OpKind::matmul: return "matmul";
    case OpKind::attention: return "attention";
    case OpKind::dropout: return "dropout";
    case OpKind::add: return "add";
    case OpKind::silu: return "silu";
    case OpKind::mul: return "mul";
    case OpKind::mse_loss: return "mse_loss";
  }
  return "?";
}

bool is_pointwise(OpKind kind) { return kind != OpKind::matmul && kind != OpKind::attention; }

namespace {

class Builder {
 public:
  explicit Builder(Graph& g) : g_(g) {}
  int value(std::string name, int64_t cols, int layer) {
    Value v;
    v.name = std::move(name);
    v.rows = g_.shape.tokens();
    v.cols = cols;
    v.layer = layer;
    v.bytes = g_.shape.block_bytes(v.rows * cols);
    g_.values.push_back(v);
    return int(g_.values.size()) - 1;
  }
  int param(std::string name, int64_t rows, int64_t cols) {
    g_.params.push_back(Param{std::move(name), rows, cols, g_.shape.block_bytes(rows * cols)});
    return int(g_.params.size()) - 1;
  }
  int op(OpKind kind, std::vector<int> inputs, const std::string& name, int64_t cols, int layer, int param = -1) {
    const int out = value(fmt::format("L{}.{}", layer, name), cols, layer);
    Node n{kind, std::move(inputs), out, param, layer, 0};
    bool rg = param >= 0;
    for (int i : n.inputs) rg = rg || g_.values[size_t(i)].requires_grad;
    g_.values[size_t(out)].requires_grad = rg;
    g_.values[size_t(out)].producer = int(g_.nodes.size());
    g_.nodes.push_back(n);
    return out;
  }

 private:
  Graph& g_;
};

}  // namespace

Graph build_graph(const ModelShape& s, uint64_t seed) {
  Graph g;
  g.shape = s;
  Builder b(g);
  const int64_t D = s.d_model, F = s.ffn();
  g.input = b.value("input", D, 0);
  g.target = b.value("target", D, s.layers);
  int x = g.input;
  for (int l = 0; l < int(s.layers); ++l) {
    g.layer_inputs.push_back(x);
    g.values[size_t(x)].layer_input = true;
    g.values[size_t(x)].layer = l;
    const int xn1 = b.op(OpKind::rms_normalize, {x}, "xn1", D, l);
    const int n1 = b.op(OpKind::mul_weight, {xn1}, "n1", D, l, b.param(fmt::format("L{}.g1", l), 1, D));
    const int qkv = b.op(OpKind::matmul, {n1}, "qkv", 3 * D, l, b.param(fmt::format("L{}.Wqkv", l), D, 3 * D));
    const int o = b.op(OpKind::attention, {qkv}, "o", D, l);
    const int proj = b.op(OpKind::matmul, {o}, "proj", D, l, b.param(fmt::format("L{}.Wo", l), D, D));
    const int drop = b.op(OpKind::dropout, {proj}, "drop", D, l);
    g.nodes.back().seed = seed ^ (0x5bd1e995ull * uint64_t(l + 1));
    const int h = b.op(OpKind::add, {x, drop}, "h", D, l);
    const int xn2 = b.op(OpKind::rms_normalize, {h}, "xn2", D, l);
    const int n2 = b.op(OpKind::mul_weight, {xn2}, "n2", D, l, b.param(fmt::format("L{}.g2", l), 1, D));
    const int a = b.op(OpKind::matmul, {n2}, "a", F, l, b.param(fmt::format("L{}.W1", l), D, F));
    const int bb = b.op(OpKind::matmul, {n2}, "b", F, l, b.param(fmt::format("L{}.W3", l), D, F));
    const int sa = b.op(OpKind::silu, {a}, "s", F, l);
    const int gg = b.op(OpKind::mul, {sa, bb}, "g", F, l);
    const int m = b.op(OpKind::matmul, {gg}, "m", D, l, b.param(fmt::format("L{}.W2", l), F, D));
    x = b.op(OpKind::add, {h, m}, "out", D, l);
  }
  g.output = x;
  g.values[size_t(x)].layer_input = true;
  g.values[size_t(x)].layer = int(s.layers);  // the loss's input belongs to the head
  g.loss = b.op(OpKind::mse_loss, {x, g.target}, "loss", 1, int(s.layers));
  g.values[size_t(g.loss)].rows = 1;
  g.values[size_t(g.loss)].bytes = s.block_bytes(1);
  g.values[size_t(g.loss)].name = "loss";
  return g;
}

bool Graph::has_backward(const Node& n) const {
  if (n.param >= 0) return true;
  for (int i : n.inputs) {
    if (values[size_t(i)].requires_grad) return true;
  }
  return false;
}

std::vector<int> Graph::backward_needs(const Node& n) const {
  switch (n.kind) {
    case OpKind::rms_normalize: return {n.inputs[0]};  // dx needs x (rstd is recomputed)
    case OpKind::mul_weight: return {n.inputs[0]};     // dg needs the normalized input
    case OpKind::matmul: return {n.inputs[0]};         // dW needs the input; dx the weight
    case OpKind::attention: return {n.inputs[0]};      // probabilities recomputed from q and k
    case OpKind::silu: return {n.inputs[0]};
    case OpKind::mul: return {n.inputs[0], n.inputs[1]};
    case OpKind::mse_loss: return {n.inputs[0]};       // and the target, which is external
    case OpKind::dropout:                              // the mask is replayed from the seed
    case OpKind::add: return {};
  }
  return {};
}

bool ModelShape::flash_attention() const {
  return attention == AttentionKernel::flash && head_dim() >= 1 && head_dim() <= cpu::attention::kMaxHeadDim;
}

talklab::attention::AttnShape flash_sequence_shape(const ModelShape& s) {
  return talklab::attention::AttnShape{1, s.heads, s.heads, s.seq, s.seq, s.head_dim()};
}

FlashScratch flash_scratch(const ModelShape& s) {
  FlashScratch f;
  if (!s.flash_attention()) return f;
  const auto round = [&](int64_t bytes) { return (bytes + s.granularity - 1) / s.granularity * s.granularity; };
  const int64_t sd = s.seq * s.d_model;  // one sequence's (H, S, head_dim)
  const int64_t rows = round(s.heads * s.seq * int64_t(sizeof(float)));
  const talklab::attention::AttnShape one = flash_sequence_shape(s);
  const auto dtype = s.element_bytes == 2 ? cpu::attention::DType::bf16 : cpu::attention::DType::f32;
  f.heads_qkv = s.block_bytes(3 * sd);
  f.heads_out = s.block_bytes(sd);
  f.lse = rows;
  f.forward_workspace = round(int64_t(cpu::attention::flash_cpu_workspace_bytes(one, dtype, cpu::best_isa())));
  f.heads_grad_out = s.block_bytes(sd);
  f.heads_grads = s.block_bytes(3 * sd);
  f.backward_workspace = round(int64_t(cpu::attention::flash_cpu_backward_workspace_bytes(one)));
  return f;
}

int64_t Graph::scratch_bytes(const Node& n, bool backward) const {
  if (n.kind != OpKind::attention) return 0;
  if (shape.flash_attention()) {
    const FlashScratch f = flash_scratch(shape);
    return backward ? f.backward() : f.forward();
  }
  // heads_per_pass heads' (S, S) scores at a time; the backward holds their gradients too
  const int64_t ss = shape.block_bytes(shape.heads_per_pass * shape.seq * shape.seq);
  return backward ? 2 * ss : ss;
}

double Graph::flops(const Node& n) const {
  const Value& out = values[size_t(n.output)];
  switch (n.kind) {
    case OpKind::matmul: return 2.0 * double(out.rows) * double(params[size_t(n.param)].rows) * double(out.cols);
    case OpKind::attention:  // QK^T and PV over the full S x S, as PyTorch counts SDPA (flash visits ~half)
      return 4.0 * double(shape.batch * shape.seq) * double(shape.seq) * double(shape.d_model);
    default: return double(values[size_t(n.inputs[0])].rows * values[size_t(n.inputs[0])].cols);
  }
}

double Graph::counted_flops(const Node& n) const { return is_pointwise(n.kind) ? 1.0 : flops(n); }

int64_t Graph::param_bytes() const {
  int64_t total = 0;
  for (const Param& p : params) total += p.bytes;
  return total;
}

int64_t Graph::layer_param_bytes(int layer) const {
  int64_t total = 0;
  for (const Node& n : nodes) {
    if (n.layer == layer && n.param >= 0) total += params[size_t(n.param)].bytes;
  }
  return total;
}

}  // namespace talklab::experiments::checkpointing
