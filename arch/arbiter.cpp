#include "arch/arbiter.hpp"

#include <algorithm>
#include <stdexcept>

namespace vitsim::arch {

const char* arbitration_name(ArbitrationPolicy policy) {
  return policy == ArbitrationPolicy::RoundRobin ? "round-robin" : "fixed-priority";
}

void service_order(ArbitrationPolicy policy, int64_t cycle, size_t units, std::vector<size_t>& order) {
  order.resize(units);
  const size_t first = policy == ArbitrationPolicy::RoundRobin && units > 0
                           ? static_cast<size_t>(cycle % static_cast<int64_t>(units))
                           : 0;
  for (size_t i = 0; i < units; ++i) order[i] = (first + i) % units;
}

CycleCapacity::CycleCapacity(int64_t accesses_per_cycle, int64_t granule)
    : accesses_(accesses_per_cycle), granule_(granule), left_accesses_(accesses_per_cycle) {
  if (accesses_per_cycle < 1 || granule < 1)
    throw std::invalid_argument("cycle capacity: accesses per cycle and granule must be positive");
}

void CycleCapacity::begin_cycle(int64_t reserved) {
  left_accesses_ = std::max<int64_t>(0, accesses_ - reserved);
}

int64_t CycleCapacity::take(int64_t wanted) {
  const int64_t granted = std::min(std::max<int64_t>(0, wanted), left());
  left_accesses_ -= (granted + granule_ - 1) / granule_;
  return granted;
}

void LandingWrites::add(int64_t first, int64_t bytes) {
  if (first < next_)
    throw std::logic_error("landing writes: a burst writable from cycle " + std::to_string(first) +
                           ", already accounted up to cycle " + std::to_string(next_ - 1));
  pending_[first] += (bytes + word_bytes_ - 1) / word_bytes_;
}

int64_t LandingWrites::take(int64_t t) {
  auto drain = [&](int64_t until) {  // cycles next_ .. until - 1, nothing else competing
    if (until > next_) backlog_ = std::max<int64_t>(0, backlog_ - (until - next_) * accesses_);
    next_ = std::max(next_, until);
  };
  while (!pending_.empty() && pending_.begin()->first <= t) {
    drain(pending_.begin()->first);
    backlog_ += pending_.begin()->second;
    pending_.erase(pending_.begin());
  }
  drain(t);
  const int64_t taken = std::min(backlog_, accesses_);
  backlog_ -= taken;
  next_ = t + 1;
  return taken;
}

}  // namespace vitsim::arch
