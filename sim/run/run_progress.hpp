// What a long cycle-mode run tells its user on stderr (docs/simulation.md, "Long runs"): before it starts,
// the cycles expected (arch::estimate_cycles) and the wall time they imply; while it runs, where it is, at
// what rate, and how long is left. On a terminal the estimate shows at once and one progress line is
// rewritten in place, then erased; elsewhere (logs, scripts, tests) a run prints only once it is expected
// or found to take more than kQuietSeconds, one line every kQuietSeconds, so short runs stay silent. Never
// on stdout and never in a report: a run's outputs are the same with or without it.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace vitsim::sim {

class RunProgress {
 public:
  /// Seconds on a monotonic clock (tests pass their own).
  using Clock = std::function<double()>;
  static double monotonic_seconds();

  /// Silent runs: a non-terminal prints nothing for a run that is over within this many seconds.
  static constexpr double kQuietSeconds = 10;
  /// Between two rewrites of a terminal's progress line.
  static constexpr double kTerminalSeconds = 0.5;
  /// The rate the estimate's wall time assumes: cycle mode's simulated cycles per second, timing only, as
  /// measured on EfficientViT-B1 @224 on the shared 2-core development machine (docs/simulation.md, "Long
  /// runs"). Progress lines use the rate measured during the run instead.
  static constexpr double kNominalCyclesPerSecond = 2.5e6;

  RunProgress(std::ostream& err, bool terminal, Clock clock = monotonic_seconds);
  /// Before the run: its expected cycles.
  void start(int64_t expected_cycles);
  /// During the run, at cycle `cycle` (often: every arch::RunOptions::kProgressCycles cycles).
  void at_cycle(int64_t cycle);
  /// After the run, or when it stopped: erases a terminal's progress line.
  void finish();
  int64_t expected_cycles() const { return expected_; }

 private:
  void show(const std::string& line);

  std::ostream& err_;
  bool terminal_;
  Clock clock_;
  int64_t expected_ = 0;
  double started_ = 0, next_line_ = 0;
  size_t drawn_ = 0;  // characters of the terminal line on screen (0: none)
};

/// Whether `err` is the process's stderr and that is a terminal.
bool is_terminal(const std::ostream& err);

/// Whole seconds as "42s", "3m05s", "2h07m" (these progress lines and the sweep's).
std::string duration_text(double seconds);

}  // namespace vitsim::sim
