#include "arch/ddr4/ddr4_stream.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <vector>

namespace vitsim::arch::ddr4 {

StreamSpec parse_pattern(const std::string& text) {
  StreamSpec spec;
  if (text == "seq") return spec;
  if (text == "random") {
    spec.pattern = Pattern::Random;
    return spec;
  }
  const std::string prefix = "stride:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string number = text.substr(prefix.size());
    const bool digits =
        !number.empty() && number.size() <= 15 &&
        std::all_of(number.begin(), number.end(), [](unsigned char ch) { return std::isdigit(ch); });
    if (digits && std::stoll(number) > 0) {
      spec.pattern = Pattern::Stride;
      spec.stride_bytes = std::stoll(number);
      return spec;
    }
  }
  throw std::invalid_argument(
      "--pattern: expected seq, random or stride:BYTES (BYTES a positive integer), found \"" + text + "\"");
}

StreamResult run_stream(const Config& config, const StreamSpec& spec) {
  const int64_t access = config.access_bytes();
  const int64_t requests = (spec.bytes + access - 1) / access;
  const uint64_t accesses_in_memory = config.capacity_bytes() / static_cast<uint64_t>(access);
  std::mt19937_64 rng(spec.seed);
  const auto uniform = [&rng] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };

  const AddressDecoder decode(config);
  std::vector<Channel> channels;
  channels.reserve(static_cast<size_t>(config.org.channels));
  for (int c = 0; c < config.org.channels; ++c) channels.emplace_back(config);
  std::vector<Completion> done;
  std::vector<int64_t> latencies;
  latencies.reserve(static_cast<size_t>(requests));
  int64_t now = 0;  // when the request being generated enters: the cycle the slot it needed freed
  const auto collect = [&] {
    for (const Completion& c : done) {
      now = std::max(now, c.column);
      latencies.push_back(c.data_end - c.arrival);
    }
    done.clear();
  };

  for (int64_t i = 0; i < requests; ++i) {
    uint64_t address = static_cast<uint64_t>(i) * static_cast<uint64_t>(access);
    if (spec.pattern == Pattern::Stride)
      address = static_cast<uint64_t>(i) * static_cast<uint64_t>(spec.stride_bytes);
    if (spec.pattern == Pattern::Random)
      address = (rng() % accesses_in_memory) * static_cast<uint64_t>(access);
    const bool write = uniform() >= spec.read_fraction;
    Channel& channel = channels[static_cast<size_t>(decode(address).channel)];
    while (channel.full()) {
      channel.step(done);
      collect();
    }
    channel.enqueue({address, write, now, i});
  }
  for (Channel& c : channels) c.drain(done);
  collect();

  StreamResult r;
  for (const Channel& c : channels) r.stats.merge(c.stats());
  r.bytes = requests * access;
  const double ns = static_cast<double>(r.stats.last_data_end) * config.tck_ns();
  r.bandwidth_gbps = ns > 0 ? static_cast<double>(r.bytes) / ns : 0;
  r.peak_gbps = config.peak_gbps();
  r.avg_latency_ns =
      static_cast<double>(r.stats.latency_cycles) / static_cast<double>(requests) * config.tck_ns();
  std::sort(latencies.begin(), latencies.end());
  const auto rank = static_cast<size_t>(std::max<int64_t>(1, (99 * requests + 99) / 100)) - 1;
  r.p99_latency_ns = static_cast<double>(latencies[rank]) * config.tck_ns();
  r.row_hit_rate = static_cast<double>(r.stats.hits) / static_cast<double>(requests);
  return r;
}

}  // namespace vitsim::arch::ddr4
