// Off-chip DRAM: the timing models behind it (DramModel: the ideal bus DramChannel here, or the command-level
// DDR4 model of arch/ddr4/ddr4_dram.hpp, chosen by the config's dram/model) and the SystemC target that
// serves the DMA's bursts through a TLM-2.0 socket (DramTarget).
//
// THE IDEAL BUS RULE (dram/model "ideal-bus", the default). One shared data bus delivers `bandwidth` bytes
// per cycle (resolved to 1/1000 byte per cycle); a burst requested at cycle t starts moving data at max(t +
// latency, the end of the previous burst) and takes bytes / bandwidth cycles; its completion is the cycle in
// which its last byte arrives. Bursts are served in request order (the DMA issues at most one per cycle, so
// the order is well defined).
#pragma once

#include <tlm_utils/simple_target_socket.h>
#include <cstdint>
#include <systemc>
#include <tlm>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/memory_image.hpp"

namespace vitsim::arch {

struct DramTiming {
  int64_t millibytes_per_cycle = 0;  // bandwidth / f_clk, in 1/1000 byte per cycle (>= 1)
  int64_t latency_cycles = 0;        // ceil(latency_ns x f_clk)
  int64_t burst_bytes = 64;
};
/// Throws std::invalid_argument if the bandwidth rounds to zero bytes per cycle.
DramTiming dram_timing(const AccelConfig& config);

/// When a burst's data moved, in accelerator cycles.
struct BurstTiming {
  int64_t first_byte = 0;  // cycle its data began moving
  int64_t last_byte = 0;   // cycle its last byte arrived
};

/// Which layer a burst moves data for (the layer of its DMA transfer): an ignorable TLM extension the DMA
/// attaches to its payload, so the DRAM model can count each layer's traffic (report.json layers[].dram).
struct BurstOwner : tlm::tlm_extension<BurstOwner> {
  int layer = -1;  // graph node index; -1: no layer
  tlm::tlm_extension_base* clone() const override { return new BurstOwner(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    layer = static_cast<const BurstOwner&>(other).layer;
  }
};

/// A DRAM timing model: plain C++, served in request order (requests never go back in time).
class DramModel {
 public:
  virtual ~DramModel() = default;
  /// Serves a burst of `bytes` at byte `address` requested at accelerator cycle `request` for layer `owner`
  /// (-1: none).
  virtual BurstTiming serve(int64_t request, uint64_t address, int64_t bytes, bool write, int owner) = 0;
  /// An upper bound of a burst's cycles, request to last byte, with the memory to itself (the watchdog's
  /// scale).
  virtual int64_t burst_cycles_bound(int64_t bytes) const = 0;
};

class DramChannel : public DramModel {
 public:
  explicit DramChannel(const DramTiming& timing) : timing_(timing) {}
  /// Serves a burst of `bytes` requested at cycle `request`; returns the cycle its last byte arrives.
  int64_t serve(int64_t request, int64_t bytes);
  /// The same, as a DramModel (the ideal bus ignores addresses and owners).
  BurstTiming serve(int64_t request, uint64_t address, int64_t bytes, bool write, int owner) override;
  int64_t burst_cycles_bound(int64_t bytes) const override;
  /// The cycle in which the last served burst's first byte moved on the bus.
  int64_t last_first_byte() const { return last_start_ / timing_.millibytes_per_cycle; }

 private:
  DramTiming timing_;
  int64_t bus_free_ = 0;    // when the bus is free, in units of 1/millibytes_per_cycle cycle
  int64_t last_start_ = 0;  // when the last burst's data began moving, same units
};

/// One burst as the DRAM served it (recorded for traces on request: RunOptions::record_bursts).
struct DramBurst {
  int64_t request = 0;     // cycle the DMA issued it
  int64_t first_byte = 0;  // cycle its data began moving on the bus
  int64_t arrival = 0;     // cycle its last byte arrived
  int64_t bytes = 0;
  bool write = false;
};

/// The DRAM behind a TLM-2.0 target socket (loosely timed: see docs/dram.md for why that is exact here).
/// b_transport takes the request time as sc_time_stamp() plus the annotated delay and returns, in the delay,
/// the time until the burst's last byte arrives. With a backing store (functional simulation) it reads and
/// writes the payload's data there; without one it models time and traffic only.
class DramTarget : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<DramTarget> socket;

  DramTarget(sc_core::sc_module_name name, DramModel& model);

  int64_t bytes_read() const { return bytes_read_; }
  int64_t bytes_written() const { return bytes_written_; }
  int64_t bursts() const { return bursts_; }
  /// Appends every burst served from now on to `log` (null: stop recording).
  void record_bursts(std::vector<DramBurst>* log) { burst_log_ = log; }
  /// Serves the bursts' data from `storage` (null: no data, timing only).
  void attach_storage(SparseMemory* storage) { storage_ = storage; }

 private:
  void b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  DramModel& model_;
  int64_t bytes_read_ = 0, bytes_written_ = 0, bursts_ = 0;
  std::vector<DramBurst>* burst_log_ = nullptr;
  SparseMemory* storage_ = nullptr;
};

}  // namespace vitsim::arch
