// FP32 reference executor: runs a graph with materialized weights, batch 1, on one core (Eigen).
//
// Op semantics (the contract the integer executor and the simulator are later checked against):
//   Conv2d   out[co,y,x] = bias[co] + sum_{c,ky,kx} W[co,c,ky,kx] * in[g*Cg + c, y*s-p+ky, x*s-p+kx]
//            (zero padding; g = co / (Cout/groups), Cg = Cin/groups), then BatchNorm
//            (v - mean) / sqrt(var + eps) * gamma + beta, then the activation.
//   Linear   y[..., o] = bias[o] + sum_i x[..., i] W[o, i], then LayerNorm over the last axis
//            (biased variance, eps), then the activation.
//   Activations: ReLU; HSwish x*min(max(x+3,0),6)/6; GeluTanh 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)));
//            GeluErf 0.5x(1+erf(x/sqrt(2))); ReLU6 min(max(x,0),6); Sigmoid 1/(1+e^-x); HSigmoid
//            min(max(x+3,0),6)/6; SiLU x/(1+e^-x). An Add may carry ReLU.
//   AttnNormalize divides in fp32 with eps = 1e-15, as the official LiteMLA.
//   The other ops are as documented on OpKind in graph.hpp.
#pragma once

#include <vector>

#include "quant/graph.hpp"

namespace vitsim::quant {

/// Computes one node from its input tensors (one per entry of node.inputs, in order).
/// The node's params must be materialized. Throws std::invalid_argument on a shape mismatch.
Tensor eval_node_fp32(const Node& node, const std::vector<const Tensor*>& inputs);

/// Runs the whole graph; returns every node's output, indexed like graph.nodes (entry 0 = input).
std::vector<Tensor> run_fp32_all(const Graph& graph, const Tensor& input);

/// Applies `act` in place to n values (the executor's own activation functions).
void apply_activation(Act act, float* values, int64_t n);

/// LayerNorm of one row of n values (biased variance, eps), as every LayerNorm of this executor; the
/// integer executor's FP32 LayerNorm uses it so both agree bit for bit.
void layer_norm_row(const float* in, float* out, int64_t n, const float* gamma, const float* beta, float eps);

/// Runs the whole graph and returns the output of its last node. Frees intermediate tensors as soon
/// as no later node reads them.
Tensor run_fp32(const Graph& graph, const Tensor& input);

}  // namespace vitsim::quant
