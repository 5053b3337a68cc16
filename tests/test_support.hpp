// Helpers shared by several test files (header-only: every .cpp of tests/ is globbed into the one binary).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

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

}  // namespace vitsim::test
