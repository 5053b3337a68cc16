#include "quant/qgraph.hpp"

namespace vitsim::quant {

ActQuant ActQuant::per_tensor_quant(float scale, int32_t zero_point, int bits) {
  ActQuant q;
  q.bits = bits;
  q.scale = {scale};
  q.zero_point = {zero_point};
  return q;
}

}  // namespace vitsim::quant
