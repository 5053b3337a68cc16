// Helpers shared by several test files (header-only: every .cpp of tests/ is globbed into the one binary).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "sim/cli.hpp"

namespace vitsim::test {

/// A fresh directory under the system temp dir, vitsim_<suite>_<tag>_<pid>_<n>, removed at scope exit
/// (after giving the owner back full permissions, in case a test took them away).
struct TempDir {
  std::filesystem::path path;

  TempDir(const std::string& suite, const std::string& tag) {
    static std::atomic<int> counter{0};
    path =
        std::filesystem::temp_directory_path() /
        ("vitsim_" + suite + "_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                 ec);
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path / name).string(); }

  /// The names of the directory's entries, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

/// What one in-process `vitsim ...` command line returned and printed.
struct Run {
  int code;
  std::string out, err;
};

/// Runs the CLI in this process with `args` (without the program name).
inline Run run_vitsim(std::vector<std::string> args) {
  args.insert(args.begin(), "vitsim");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  const int code = vitsim::sim::run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

}  // namespace vitsim::test
