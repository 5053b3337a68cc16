#include "arch/memory_image.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace vitsim::arch {

void SparseMemory::read(int64_t address, unsigned char* to, int64_t bytes) const {
  while (bytes > 0) {
    const int64_t page = address / kPageBytes, at = address % kPageBytes;
    const int64_t n = std::min(bytes, kPageBytes - at);
    const auto p = pages_.find(page);
    if (p == pages_.end())
      std::fill_n(to, n, 0);
    else
      std::copy_n(p->second.data() + at, n, to);
    to += n, address += n, bytes -= n;
  }
}

void SparseMemory::write(int64_t address, const unsigned char* from, int64_t bytes) {
  while (bytes > 0) {
    const int64_t page = address / kPageBytes, at = address % kPageBytes;
    const int64_t n = std::min(bytes, kPageBytes - at);
    auto& p = pages_[page];
    if (p.empty()) p.assign(static_cast<size_t>(kPageBytes), 0);
    std::copy_n(from, n, p.data() + at);
    from += n, address += n, bytes -= n;
  }
}

void put_code(unsigned char* at, int64_t element_bytes, int32_t code) {
  const auto bits = static_cast<uint32_t>(code);
  for (int64_t b = 0; b < element_bytes; ++b) at[b] = static_cast<unsigned char>(bits >> (8 * b));
}

int32_t get_code(const unsigned char* at, int64_t element_bytes) {
  uint32_t bits = 0;
  for (int64_t b = 0; b < element_bytes; ++b) bits |= uint32_t{at[b]} << (8 * b);
  if (element_bytes < 4) {
    const uint32_t sign = uint32_t{1} << (8 * element_bytes - 1);
    bits = (bits ^ sign) - sign;
  }
  return static_cast<int32_t>(bits);
}

OnChipMemory::OnChipMemory(const AccelConfig& config) {
  for (int k = 0; k < kBufferKinds; ++k) {
    const BufferConfig& b = config.buffer(static_cast<BufferKind>(k));
    // The auxiliary units' slots: one engine's slot size each, two per unit.
    const int64_t slot = b.slot_region_bytes() / static_cast<int64_t>(config.engines.size()) / 2;
    bytes_[static_cast<size_t>(k)].assign(
        static_cast<size_t>(b.capacity_bytes + 2 * static_cast<int64_t>(config.aux_units.size()) * slot), 0);
  }
}

unsigned char* OnChipMemory::at(BufferKind buffer, int64_t address, int64_t bytes) {
  auto& b = bytes_[static_cast<size_t>(buffer)];
  if (address < 0 || bytes < 0 || address + bytes > static_cast<int64_t>(b.size()))
    throw std::out_of_range(std::string("the ") + buffer_key(buffer) + " buffer has no bytes [" +
                            std::to_string(address) + ", " + std::to_string(address + bytes) + ")");
  return b.data() + address;
}

void preload_dram(SparseMemory& dram, const Program& program, const quant::QGraph& qgraph,
                  const quant::QTensor& input) {
  for (const Allocation& a : program.memory_plan) {
    if (a.space != Allocation::Space::Dram) continue;
    const quant::Node& node = qgraph.graph.nodes[static_cast<size_t>(a.layer)];
    const quant::QNode& qn = qgraph.nodes[static_cast<size_t>(a.layer)];
    std::vector<unsigned char> bytes(static_cast<size_t>(a.bytes));
    if (a.tensor == Allocation::Tensor::Output) {
      if (a.layer != 0) continue;  // only the input image is there before the run
      const TensorLayout l = tensor_layout(node.out_shape, node.op, a.bytes / quant::numel(node.out_shape));
      for (int64_t o = 0; o < l.outer; ++o)
        for (int64_t m = 0; m < l.mid; ++m)
          for (int64_t i = 0; i < l.inner; ++i)
            put_code(bytes.data() + l.offset(o, m, i), l.element_bytes,
                     input.data[static_cast<size_t>(l.logical(o, m, i))]);
    } else if (node.op == quant::OpKind::ClassToken || node.op == quant::OpKind::PosEmbed) {
      // A token op's constants: the class token's codes, or the position embedding's int32 values.
      if (qn.const_codes.empty()) continue;
      const int64_t code_bytes = a.bytes / static_cast<int64_t>(qn.const_codes.size());
      for (size_t i = 0; i < qn.const_codes.size(); ++i)
        put_code(bytes.data() + static_cast<int64_t>(i) * code_bytes, code_bytes, qn.const_codes[i]);
    } else {
      const int64_t outputs = node.op == quant::OpKind::Conv2d ? node.out_shape[0] : node.out_features;
      const int64_t per_output = static_cast<int64_t>(qn.weight.size()) / outputs;
      const int64_t record = a.bytes / outputs, code_bytes = (record - 4) / per_output;
      for (int64_t c = 0; c < outputs; ++c) {
        unsigned char* r = bytes.data() + c * record;
        for (int64_t i = 0; i < per_output; ++i)
          put_code(r + i * code_bytes, code_bytes, qn.weight[static_cast<size_t>(c * per_output + i)]);
        put_code(r + per_output * code_bytes, 4, qn.bias.empty() ? 0 : qn.bias[static_cast<size_t>(c)]);
      }
    }
    dram.write(a.offset, bytes.data(), a.bytes);
  }
}

}  // namespace vitsim::arch
