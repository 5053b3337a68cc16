#include "quant/qgraph.hpp"

#include <algorithm>
#include <cmath>

namespace vitsim::quant {

ActQuant ActQuant::per_tensor_quant(float scale, int32_t zero_point, int bits) {
  ActQuant q;
  q.bits = bits;
  q.scale = {scale};
  q.zero_point = {zero_point};
  return q;
}

// The ops of the INTEGER SEMANTICS table in qgraph.hpp. Any other op, a new one included, has none until
// it is defined there and implemented by the integer executor.
bool has_integer_semantics(OpKind op) {
  switch (op) {
    case OpKind::Input:
    case OpKind::Conv2d:
    case OpKind::Linear:
    case OpKind::Add:
    case OpKind::Concat:
    case OpKind::GlobalAvgPool:
    case OpKind::AttnKernel:
    case OpKind::MatMul:
    case OpKind::AttnNormalize:
    case OpKind::LayerNorm:
    case OpKind::Softmax:
    case OpKind::PatchTokens:
    case OpKind::ClassToken:
    case OpKind::PosEmbed:
    case OpKind::HeadSplit:
    case OpKind::HeadMerge:
    case OpKind::TokenSelect:
    case OpKind::MaxPool:
    case OpKind::ChannelMul:
      return true;
  }
  return false;
}

std::vector<int> ptf_alphas(const ActQuant& q) {
  if (q.scale.empty() || q.groups0 != 1 || q.log2) return {};
  const float base = *std::min_element(q.scale.begin(), q.scale.end());
  std::vector<int> alphas;
  for (size_t c = 0; c < q.scale.size(); ++c) {
    if (q.zero_point[c] != q.zero_point[0]) return {};
    int alpha = 0;
    while (alpha <= 3 && std::ldexp(base, alpha) != q.scale[c]) ++alpha;
    if (alpha > 3) return {};
    alphas.push_back(alpha);
  }
  return alphas;
}

}  // namespace vitsim::quant
