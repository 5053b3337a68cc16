#include "sim/run/run_progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "sim/run/graph_report.hpp"

namespace vitsim::sim {

double RunProgress::monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool is_terminal(const std::ostream& err) {
  return &err == &std::cerr && isatty(STDERR_FILENO) == 1;
}

std::string duration_text(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  std::ostringstream o;
  if (s >= 3600)
    o << s / 3600 << "h" << std::setw(2) << std::setfill('0') << s % 3600 / 60 << "m";
  else if (s >= 60)
    o << s / 60 << "m" << std::setw(2) << std::setfill('0') << s % 60 << "s";
  else
    o << s << "s";
  return o.str();
}

RunProgress::RunProgress(std::ostream& err, bool terminal, Clock clock)
    : err_(err), terminal_(terminal), clock_(std::move(clock)) {}

void RunProgress::start(int64_t expected_cycles) {
  expected_ = expected_cycles;
  started_ = clock_();
  next_line_ = started_ + (terminal_ ? kTerminalSeconds : kQuietSeconds);
  const double seconds = static_cast<double>(expected_cycles) / kNominalCyclesPerSecond;
  if (!terminal_ && seconds <= kQuietSeconds) return;
  err_ << "cycle mode: about " << with_commas(expected_cycles)
       << " cycles expected (the compiled program's schedule), about " << duration_text(seconds) << " at "
       << kNominalCyclesPerSecond / 1e6 << " M cycles/s\n"
       << std::flush;
}

void RunProgress::at_cycle(int64_t cycle) {
  const double now = clock_();
  if (now < next_line_) return;
  next_line_ = now + (terminal_ ? kTerminalSeconds : kQuietSeconds);
  const double rate = static_cast<double>(cycle) / std::max(now - started_, 1e-9);
  std::ostringstream line;
  line << "cycle mode: cycle " << with_commas(cycle);
  if (cycle < expected_)
    line << " of about " << with_commas(expected_) << " expected ("
         << std::llround(100.0 * static_cast<double>(cycle) / static_cast<double>(expected_)) << "%), "
         << std::fixed << std::setprecision(2) << rate / 1e6 << " M cycles/s, about "
         << duration_text(static_cast<double>(expected_ - cycle) / rate) << " left";
  else
    line << ", past the about " << with_commas(expected_) << " expected, " << std::fixed
         << std::setprecision(2) << rate / 1e6 << " M cycles/s";
  show(line.str());
}

void RunProgress::show(const std::string& line) {
  if (!terminal_) {
    err_ << line << '\n' << std::flush;
    return;
  }
  err_ << '\r' << line << std::string(drawn_ > line.size() ? drawn_ - line.size() : 0, ' ') << std::flush;
  drawn_ = line.size();
}

void RunProgress::finish() {
  if (drawn_ == 0) return;
  err_ << '\r' << std::string(drawn_, ' ') << '\r' << std::flush;
  drawn_ = 0;
}

}  // namespace vitsim::sim
