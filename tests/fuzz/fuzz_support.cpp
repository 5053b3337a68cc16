#include "fuzz_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace vitsim::fuzz {

namespace {
// Leaked on purpose: the exit handler that removes the folder runs after static objects are destroyed.
const std::string* private_dir_path = nullptr;

void remove_private_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(*private_dir_path, ignored);
}

const std::string& private_dir() {
  if (!private_dir_path) {
    std::string pattern = (std::filesystem::temp_directory_path() / "vitsim-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) std::abort();
    private_dir_path = new std::string(pattern);
    std::atexit(remove_private_dir);
  }
  return *private_dir_path;
}
}  // namespace

std::string as_file(const uint8_t* data, size_t size, const std::string& name) {
  const std::string path = private_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) std::abort();
  return path;
}

}  // namespace vitsim::fuzz

// libsystemc.so, which the targets of arch/ and sim/ readers link, refers to sc_main (its own main calls
// it); the fuzz targets enter through libFuzzer's main and never start the SystemC kernel, so this
// definition only satisfies the linker.
extern "C" int sc_main(int, char**) {
  return 0;
}
