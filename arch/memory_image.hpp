// The bytes the modeled memories hold (functional simulation): the DRAM's backing store, sparse pages, and
// the on-chip buffers' byte arrays. The DRAM target serves the DMA's bursts from the store, the DMA moves
// them through the TLM payload's data pointer into and out of buffer addresses, and the functional model's
// tiles read their operands and write their results there (docs/simulation.md, "Functional simulation").
// Plain C++, no SystemC.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/memory_layout.hpp"
#include "arch/program.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::arch {

/// DRAM contents: 64 KiB pages created on first write; bytes never written read as 0.
class SparseMemory {
 public:
  static constexpr int64_t kPageBytes = 64 * 1024;
  void read(int64_t address, unsigned char* to, int64_t bytes) const;
  void write(int64_t address, const unsigned char* from, int64_t bytes);
  /// Pages created so far (the store's footprint is pages x kPageBytes).
  size_t pages() const { return pages_.size(); }

 private:
  std::unordered_map<int64_t, std::vector<unsigned char>> pages_;
};

/// An element's code as `element_bytes` little-endian bytes (codes are signed: sign-extended on reading).
void put_code(unsigned char* at, int64_t element_bytes, int32_t code);
int32_t get_code(const unsigned char* at, int64_t element_bytes);

/// The on-chip buffers' bytes. Each holds the config's capacity; the activation, weight and output buffers
/// also hold, past it, the double-buffered slots of the auxiliary units (the compiler's slot_address),
/// which the config's capacities do not count (docs/engines.md, "Memory plan").
class OnChipMemory {
 public:
  explicit OnChipMemory(const AccelConfig& config);
  /// `bytes` bytes at `address` of `buffer`; throws std::out_of_range naming the buffer past its end.
  unsigned char* at(BufferKind buffer, int64_t address, int64_t bytes);

 private:
  std::array<std::vector<unsigned char>, kBufferKinds> bytes_;
};

/// Both: what a functional simulation's memories hold.
struct MemoryImage {
  SparseMemory dram;
  OnChipMemory buffers;
  explicit MemoryImage(const AccelConfig& config) : buffers(config) {}
};

/// What the DRAM holds before the run: the quantized input image and every Conv2d / Linear layer's weights
/// at the memory plan's addresses (weights: one record per output channel, its codes then its int32 bias).
void preload_dram(SparseMemory& dram, const Program& program, const quant::QGraph& qgraph,
                  const quant::QTensor& input);

}  // namespace vitsim::arch
