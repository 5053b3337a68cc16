#include "quant/qgraph.hpp"

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
      return true;
    default:
      return false;
  }
}

}  // namespace vitsim::quant
