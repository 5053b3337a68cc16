// The exit-code contract of every command (README, "Exit codes"), through sim::run_guarded, the one place
// that maps what a command throws to a code: bad input 2, a stalled simulation 3, and the paths no valid
// or invalid input should reach, exit 4 with "this is a bug", including an exception thrown inside a
// SystemC process, which the kernel wraps in an sc_report.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <systemc>

#include "arch/accelerator.hpp"
#include "sim/cli/cli.hpp"

using vitsim::sim::run_guarded;

namespace {

struct Outcome {
  int code;
  std::string err;
};

Outcome guarded(const std::function<int()>& command) {
  std::ostringstream err;
  const int code = run_guarded(command, err);
  return {code, err.str()};
}

// guarded(command) in a child process. A SystemC process that died by an exception leaves the kernel
// broken for the rest of the process (and, under AddressSanitizer, the thread's recorded stack on the dead
// process's coroutine, where LeakSanitizer's exit scan faults): the child ends with _exit, the test binary
// keeps a sound kernel.
Outcome guarded_in_child(const std::function<int()>& command) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    const Outcome o = guarded(command);
    const std::string message = std::to_string(o.code) + "\n" + o.err;
    const bool written =
        ::write(fds[1], message.data(), message.size()) == static_cast<ssize_t>(message.size());
    ::_exit(written ? 0 : 1);
  }
  ::close(fds[1]);
  std::string message;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  const size_t eol = message.find('\n');
  REQUIRE(eol != std::string::npos);
  return {std::stoi(message.substr(0, eol)), message.substr(eol + 1)};
}

// One line, as the contract requires of every failure.
void check_one_line(const std::string& err) {
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  CHECK(err.rfind("vitsim: ", 0) == 0);
}

// A process that fails the way the bugs of issue 17 did: std::map::at on a missing key inside a thread.
SC_MODULE(FailingProcess){SC_CTOR(FailingProcess){SC_THREAD(run);
}  // namespace
void run() {
  sc_core::wait(5, sc_core::SC_NS);
  const std::map<int, int> empty;
  (void)empty.at(1);
}
}
;

}  // namespace

TEST_CASE("Exit codes: a command's own code passes through, bad input is 2, a stall is 3", "[cli][exit]") {
  CHECK(guarded([] { return 1; }).code == 1);
  const Outcome bad =
      guarded([]() -> int { throw std::invalid_argument("x.json: /name: expected a string"); });
  CHECK(bad.code == 2);
  CHECK(bad.err == "vitsim: error: x.json: /name: expected a string\n");
  const Outcome io = guarded([]() -> int { throw std::runtime_error("out.json: cannot write"); });
  CHECK(io.code == 2);
  check_one_line(io.err);
  const Outcome stalled = guarded([]() -> int { throw vitsim::arch::SimulationStalled("no progress"); });
  CHECK(stalled.code == 3);
  check_one_line(stalled.err);
}

TEST_CASE("Exit codes: a logic error or running out of memory is 4, 'this is a bug'", "[cli][exit]") {
  const Outcome logic = guarded([]() -> int { throw std::out_of_range("map::at"); });
  CHECK(logic.code == 4);
  CHECK(logic.err == "vitsim: internal error: map::at; this is a bug\n");
  const Outcome memory = guarded([]() -> int { throw std::bad_alloc(); });
  CHECK(memory.code == 4);
  CHECK_THAT(memory.err, Catch::Contains("out of memory") && Catch::Contains("this is a bug"));
  check_one_line(memory.err);
  // The message quotes a bounded excerpt of what() with control characters escaped.
  const Outcome long_message =
      guarded([]() -> int { throw std::logic_error(std::string(100000, 'x') + "\x1b[2J"); });
  CHECK(long_message.code == 4);
  CHECK(long_message.err.size() < 600);
  CHECK(long_message.err.find('\x1b') == std::string::npos);
  check_one_line(long_message.err);
}

TEST_CASE("Exit codes: an exception inside a SystemC process is 4, 'this is a bug'", "[cli][exit]") {
  const Outcome o = guarded_in_child([] {
    FailingProcess failing("failing");
    sc_core::sc_start();
    return 0;
  });
  CHECK(o.code == 4);
  CHECK_THAT(o.err, Catch::Contains("internal error in the simulation") && Catch::Contains("this is a bug"));
  check_one_line(o.err);
}
