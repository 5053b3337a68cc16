// What the libFuzzer targets share (docs/building.md, "Fuzzing"). The contract they check: a reader given
// any bytes returns, or throws one of the bad-input exceptions that the CLI turns into exit 2
// (std::invalid_argument, std::runtime_error; README, "Exit codes"). Any other exception escapes and
// aborts, which libFuzzer reports as a crash, like a sanitizer finding, a timeout or running out of memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace vitsim::fuzz {

/// Runs `read`, swallowing only the bad-input exceptions.
template <class Read>
int read_or_refuse(Read&& read) {
  try {
    read();
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
  return 0;
}

/// The bytes as the content of a file named `name` in this process's own temporary folder (removed at
/// exit): every target reads its input as the CLI does, from a file. Each call rewrites the file.
std::string as_file(const uint8_t* data, size_t size, const std::string& name);

}  // namespace vitsim::fuzz
