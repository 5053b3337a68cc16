// Test runner: Catch2 inside SystemC's sc_main, so tests may elaborate SystemC modules (one elaboration
// per process: CTest runs each TEST_CASE in its own process).
#include <systemc>

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdlib>

int sc_main(int argc, char** argv) {
  return Catch::Session().run(argc, argv);
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
