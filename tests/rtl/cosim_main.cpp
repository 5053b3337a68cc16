// The RTL co-simulation tests (docs/rtl.md): Catch2's main; the models need no SystemC kernel.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
