#include "arch/dram_layout.hpp"

#include <map>
#include <tuple>

namespace vitsim::arch {

std::vector<uint64_t> provisional_dram_addresses(const Program& program) {
  using Stream = std::tuple<int, int, int>;  // layer, direction, buffer
  const auto stream_of = [](const Transfer& t) {
    return Stream{t.layer, static_cast<int>(t.dir), static_cast<int>(t.buffer)};
  };
  std::map<Stream, uint64_t> size;
  for (const Transfer& t : program.transfers) size[stream_of(t)] += static_cast<uint64_t>(t.bytes);
  constexpr uint64_t kAlign = 4096;
  std::map<Stream, uint64_t> cursor;  // the next free byte of each stream's region
  uint64_t base = 0;
  for (const auto& [stream, bytes] : size) {
    cursor[stream] = base;
    base += (bytes + kAlign - 1) / kAlign * kAlign;
  }
  std::vector<uint64_t> addresses;
  addresses.reserve(program.transfers.size());
  for (const Transfer& t : program.transfers) {
    uint64_t& next = cursor[stream_of(t)];
    addresses.push_back(next);
    next += static_cast<uint64_t>(t.bytes);
  }
  return addresses;
}

}  // namespace vitsim::arch
