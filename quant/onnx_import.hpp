// ONNX import: turns an ONNX classifier exported from PyTorch (the EfficientViT family, DeiT-style ViTs,
// torchvision's MobileNetV2, ResNet-18, MobileNetV3, EfficientNet and ViT-B/16) into
// the graph IR, with every parameter materialized from the initializers, so quant::run_fp32 runs it as is.
//
// The import rebuilds the IR structure the zoo uses (quant/zoo.cpp), one IR node per accelerator layer:
//   Conv (+ a following BatchNormalization, or the bias it was folded into) (+ activation)  -> Conv2d
//   Gemm, or MatMul by a constant (+ Add of a constant bias)  (+ LayerNorm) (+ activation)  -> Linear
//     (its input may be labelled with other leading axes than the IR's, as torch's sequence-first [T, 1, D])
//   Add of two activations (+ a Relu, as a ResNet block ends) -> Add;  Concat on channels -> Concat
//   MaxPool (square kernel, equal strides, symmetric pads, no dilation, ceil_mode 0) -> MaxPool
//   GlobalAveragePool, or ReduceMean over H and W -> GlobalAvgPool
//   squeeze-excite: a 1x1 Conv on the pooled [1, C, 1, 1] vector (+ activation) -> Linear on the IR's [C]
//     (same MACs); Mul of a [1, C, H, W] map and a [1, C, 1, 1] gate (either order) -> ChannelMul
//   LayerNormalization, or its opset-13 decomposition (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
//     Mul, Add): fused into the Linear it follows (when the Linear feeds only it), else LayerNorm (its input
//     may feed other nodes too, as a pre-norm ViT's residual stream does)
//   ViT tokens: the patch conv's [1,D,H,W] output flattened and Transposed to [1,H*W,D] -> PatchTokens;
//     Concat(learned [1,1,D], tokens) on axis 1 -> ClassToken; Add of a learned [1,T,D] -> PosEmbed;
//     Gather of a scalar index on axis 1 -> TokenSelect
//   timm's multi-head self-attention (Reshape [1,T,3,h,dh], Transpose (2,0,3,1,4), q/k/v by Split+Squeeze
//     or Gathers, Transpose(k), MatMul(q, k^T), Mul/Div by a scalar, Softmax, MatMul(attn, v),
//     Transpose (0,2,1,3), Reshape [1,T,h*dh]) -> HeadSplit, MatMul q k^T (scaled), Softmax, MatMul attn v,
//     HeadMerge, as the zoo's DeiT
//   torch's nn.MultiheadAttention (torchvision's ViT, torch 1.13 at opset 13): the packed in_proj (a Linear)
//     [T,1,3*h*dh], three Slices of its last axis (q, k, v), each Reshape [T,h,dh] + Transpose (1,0,2), or
//     (1,2,0) for k^T; Div/Mul of q by a scalar, MatMul(q, k^T), Softmax, MatMul(attn, v), Transpose
//     (1,0,2), Reshape [T,h*dh], the out_proj Gemm -> the same IR nodes as timm's attention
//   LiteMLA's ReLU linear attention (Reshape to [1, heads, 3*dim, H*W], q/k/v Slices, ReLU(q), ReLU(k),
//     Pad(v) with a ones row, Transpose(k), MatMul(v', k^T), MatMul(v'k^T, q), Slices, Add eps, Div,
//     Reshape back) -> AttnKernel, MatMul v'k^T, MatMul (v'k^T)q, AttnNormalize
// Activations fuse into the Conv / Linear (or its LayerNorm) they follow when that is their only consumer:
// Relu, HardSwish, and any chain of scalar elementwise ops that computes ReLU, ReLU6 (Clip(0, 6), as
// MobileNetV2's), hswish, GELU (erf or tanh), sigmoid, hard sigmoid (HardSigmoid with alpha 1/6, torch's
// Hardsigmoid) or SiLU (x * Sigmoid(x)), such as torch's opset-13 HardSigmoid + Mul or its GELU
// decompositions (identified by evaluation). Convs need square kernels, equal strides, symmetric pads and no
// dilation (the IR's Conv2d); a Pad of constant zeros on H and W whose only consumer is a Conv folds into
// the conv's pads (so the sum must be symmetric); anything else is refused naming the node.
// Reshape / Flatten / Squeeze / Unsqueeze / Identity / Dropout / Cast-to-float, and a Transpose that moves
// only axes of size 1 (torch's [1,T,D] <-> [T,1,D] around nn.MultiheadAttention), relabel a tensor without
// moving data; shape arithmetic (Shape, Gather, Constant, Expand of a constant as torchvision's class token,
// ...) is folded. Unused nodes are ignored.
//
// Node names come from the ONNX node names: torch's "/backbone/stages.2/op_list.1/context_module/main/qkv/
// conv/Conv" becomes "stages.2.op_list.1.context_module.main.qkv" (module path, "backbone." and a trailing
// ConvLayer/LinearLayer ".conv"/".linear" dropped); other ops get a suffix (".add", ".concat"); LiteMLA's
// nodes are "<module>.kernel", ".matmul_vk", ".matmul_out", ".normalize"; an attention's "<module>.split",
// ".matmul_qk", ".softmax", ".matmul_av", ".merge" (an nn.MultiheadAttention's projections
// "<module>.in_proj",
// ".out_proj"); the token ops "patch_tokens", "cls_token", "pos_embed",
// "token_select" (prefixed with their module, if any). Names are unique. Every error names the node, its op
// type and the model's opset.
#pragma once

#include <string>

#include "quant/graph.hpp"

namespace vitsim::quant {

/// Reads the ONNX model at `path` and builds its graph (params materialized; model name = the file's stem,
/// resolution = the input height). The input must have a fixed shape [1, C, H, W] and the model exactly one
/// output. Throws std::invalid_argument naming the file and the problem: file missing or unreadable, not a
/// valid ONNX protobuf (corrupt or truncated), symbolic or non-1 batch dimensions, an unsupported op (names
/// the node, its op type and the opset), or a pattern that deviates from what the IR can express (names the
/// node).
Graph import_onnx(const std::string& path);

}  // namespace vitsim::quant
