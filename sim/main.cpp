#include <iostream>

#include "sim/cli.hpp"

int main(int argc, char** argv) { return vitsim::sim::run_cli(argc, argv, std::cout, std::cerr); }
