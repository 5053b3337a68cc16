// A DDR4 memory system as data: the device (organization and JEDEC timing, in DRAM clock cycles) from a
// preset file (configs/dram/*.json), and the memory controller's policies (address mapping, scheduler, page
// policy, queue). Plain C++, no SystemC. Every error is a quant::ConfigError "<file>: <json path>: <what was
// expected>, found <value>". Field reference: docs/dram.md; the model that uses it: ddr4_controller.hpp.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quant/json_reader.hpp"

namespace vitsim::arch::ddr4 {

/// How one channel is built. Every count is a power of two, so an address splits into bit fields.
struct Organization {
  int channels = 1;         // independent channels, each with its own controller and 64-bit bus
  int ranks = 1;            // ranks per channel (they share the channel's command and data bus)
  int bank_groups = 4;      // bank groups per rank (2 for x16 devices, 4 for x4/x8)
  int banks_per_group = 4;  // banks per bank group
  int64_t rows = 65536;     // rows per bank
  int columns = 1024;       // columns per row (one column = bus_bits of data)
  int bus_bits = 64;        // data bus width of a channel, bits (the rank's devices side by side)
  int bus_bytes() const { return bus_bits / 8; }
  int banks() const { return bank_groups * banks_per_group; }
};

/// JEDEC DDR4 timing, all in DRAM clock cycles (nCK, tCK = 2000 / data_rate_mts ns). AL = 0, 1tCK preambles.
struct Timing {
  int cl = 16;           // CAS latency: RD to first data
  int cwl = 12;          // CAS write latency: WR to first data
  int rcd = 16;          // ACT to RD/WR, same bank
  int rp = 16;           // PRE to ACT, same bank
  int ras = 39;          // ACT to PRE, same bank
  int rc = 55;           // ACT to ACT, same bank
  int rrd_s = 7;         // ACT to ACT, different bank group
  int rrd_l = 8;         // ACT to ACT, same bank group
  int faw = 36;          // window in which a rank may receive at most four ACTs
  int ccd_s = 4;         // RD to RD or WR to WR, different bank group
  int ccd_l = 6;         // RD to RD or WR to WR, same bank group
  int wr = 18;           // write recovery: end of write data to PRE, same bank
  int wtr_s = 3;         // end of write data to RD, different bank group
  int wtr_l = 9;         // end of write data to RD, same bank group
  int rtp = 9;           // RD to PRE, same bank
  int rfc = 420;         // REF to the next command to the rank
  int refi = 9360;       // average interval between REFs of a rank; 0 turns refresh off (an idealization)
  int burst_length = 8;  // BL8: a column access moves burst_length x bus_bytes; data take burst_length/2 nCK
  int rtrs = 2;  // rank-to-rank data bus switch gap (controller/board dependent; unused with one rank)
  int data_cycles() const { return burst_length / 2; }
};

/// Address bit fields, listed from the most to the least significant in AddressMapping::order.
enum class Field { Channel, Rank, BankGroup, Bank, Row, Column };
const char* field_name(Field f);  // "channel", "rank", "bankgroup", "bank", "row", "column"

/// How a byte address selects channel, rank, bank group, bank, row and column: the address is split, above
/// the log2(burst bytes) offset bits of one column access, into the fields of `order` (most significant
/// first), each log2(count) bits wide. Addresses beyond the capacity wrap around.
struct AddressMapping {
  std::vector<Field> order = {Field::Row,    Field::Rank,      Field::Bank,
                              Field::Column, Field::BankGroup, Field::Channel};
  std::string text() const;  // e.g. "row-rank-bank-column-bankgroup-channel"
};

enum class Scheduler {
  Fcfs,    // strictly the oldest request's next command
  FrFcfs,  // first ready: a ready column command (row hit) before others, then the oldest; starvation cap
};
enum class PagePolicy {
  Open,    // a row stays open until a conflicting request or a refresh closes it
  Closed,  // every column access auto-precharges its bank (RDA / WRA)
};
const char* scheduler_name(Scheduler s);
const char* page_policy_name(PagePolicy p);

/// The memory controller's choices.
struct ControllerPolicy {
  AddressMapping mapping;
  Scheduler scheduler = Scheduler::FrFcfs;
  PagePolicy page_policy = PagePolicy::Open;
  int queue_depth = 32;     // requests a channel's controller holds at once (>= 1)
  int starvation_cap = 16;  // FR-FCFS: after this many younger column commands passed the oldest request,
                            // only the oldest may issue until it has issued its column command
};

/// A whole DDR4 memory system.
struct Config {
  std::string name;                // preset name, e.g. "ddr4-2400-x64"
  std::string file;                // where it was read from (messages)
  std::vector<std::string> notes;  // provenance of every number
  int data_rate_mts = 2400;        // transfers per second per pin, millions (DRAM clock = half of it, MHz)
  Organization org;
  Timing timing;
  ControllerPolicy policy;

  /// DRAM clock, kHz (data_rate_mts x 500).
  int64_t clock_khz() const { return int64_t{data_rate_mts} * 500; }
  double tck_ns() const { return 2000.0 / data_rate_mts; }
  /// Bytes one column access moves (BL8 x bus width: 64 on a 64-bit bus).
  int64_t access_bytes() const { return int64_t{timing.burst_length} * org.bus_bytes(); }
  /// Peak bandwidth over all channels, GB/s (1e9 B/s): data rate x bus bytes x channels.
  double peak_gbps() const;
  /// Bytes addressed before addresses wrap around.
  uint64_t capacity_bytes() const;
  nlohmann::json to_json() const;
};

/// Reads the controller policy keys present in `r` ("mapping", "scheduler", "page_policy", "queue_depth",
/// "starvation_cap") over `policy` (so a preset's choices can be overridden key by key).
void read_policy(quant::JsonReader& r, ControllerPolicy& policy);

/// Validates a preset document (docs/dram.md lists its keys); `origin` names it in messages.
Config parse_preset(const nlohmann::json& j, const std::string& origin);
/// `name_or_path` as a file if it exists, else <config_dir>/dram/<name>.json; otherwise a ConfigError
/// listing the known presets.
Config find_preset(const std::string& name_or_path, const std::string& config_dir);

}  // namespace vitsim::arch::ddr4
