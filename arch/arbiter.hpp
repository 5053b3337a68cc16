// Per-cycle arbitration of the resources that compute units share in cycle mode (docs/simulation.md,
// "Cycle mode"): the buffers' read ports, the auxiliary units, and the DMA's writes into the buffers. Plain
// C++, no SystemC: tests drive it cycle by cycle.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vitsim::arch {

/// In which order the units that want a shared resource in the same cycle are served.
enum class ArbitrationPolicy {
  RoundRobin,     // "round-robin": the unit served first rotates by one every cycle
  FixedPriority,  // "fixed-priority": always in program resource order (the config's engines first)
};
const char* arbitration_name(ArbitrationPolicy policy);

/// The order in which `units` units are served in `cycle`: 0, 1, ... (fixed priority), or starting at
/// cycle mod units and wrapping (round robin).
void service_order(ArbitrationPolicy policy, int64_t cycle, size_t units, std::vector<size_t>& order);

/// One cycle of a shared resource, handed out in whole accesses of `granule` units: a buffer serves
/// banks x ports_per_bank accesses of word_bytes bytes; an auxiliary unit `throughput` accesses of one
/// element. Consecutive bytes are interleaved over the banks word by word, so a request of contiguous
/// bytes never conflicts with itself: only the total number of accesses per cycle is limited.
class CycleCapacity {
 public:
  CycleCapacity(int64_t accesses_per_cycle, int64_t granule);
  /// Begins a cycle with `reserved` of its accesses already taken (higher-priority writes).
  void begin_cycle(int64_t reserved = 0);
  /// Grants up to `wanted` units (bytes or elements) from the accesses left; returns the units granted.
  int64_t take(int64_t wanted);
  /// Units still available this cycle.
  int64_t left() const { return left_accesses_ * granule_; }

 private:
  int64_t accesses_, granule_, left_accesses_;
};

/// The DMA's writes into one on-chip buffer: a burst's words are written as its data streams in from
/// DRAM, with priority over the engines' reads, at most `accesses_per_cycle` per cycle (the DMA's write
/// path is as wide as the DRAM's data rate); what one cycle cannot take waits for the next (the DMA's
/// landing FIFO).
class LandingWrites {
 public:
  LandingWrites(int64_t accesses_per_cycle, int64_t word_bytes)
      : accesses_(accesses_per_cycle), word_bytes_(word_bytes) {}
  /// A burst of `bytes` whose first data can be written in cycle `first` (not before the first cycle not
  /// yet accounted).
  void add(int64_t first, int64_t bytes);
  /// The accesses the landing writes take in cycle `t` (t ascending over calls; cycles skipped between
  /// calls had nothing else competing, so they drain at the full rate).
  int64_t take(int64_t t);
  /// Accesses not yet written.
  int64_t backlog() const { return backlog_; }

 private:
  const int64_t accesses_, word_bytes_;
  std::map<int64_t, int64_t> pending_;  // first cycle writable -> accesses
  int64_t backlog_ = 0;                 // accesses writable and not yet written, as of cycle next_
  int64_t next_ = 0;                    // the first cycle not yet accounted
};

}  // namespace vitsim::arch
