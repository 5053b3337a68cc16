// Entry point. SystemC's library expects an sc_main; we enter through sc_elab_and_sim so the kernel is
// set up as SystemC intends, after silencing its copyright banner (it would land in every command's
// output, JSON included).
#include <systemc>

#include <cstdlib>
#include <iostream>

#include "sim/cli/cli.hpp"

int sc_main(int argc, char** argv) {
  return vitsim::sim::run_cli(argc, argv, std::cout, std::cerr);
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
