#include "quant/atomic_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "quant/json_reader.hpp"

namespace vitsim::quant {

namespace {

std::mutex inputs_mutex;
std::vector<std::pair<dev_t, ino_t>>& noted_inputs() {
  static std::vector<std::pair<dev_t, ino_t>> inputs;
  return inputs;
}

[[noreturn]] void io_error(const std::string& path, const std::string& why) {
  throw std::runtime_error("cannot write '" + excerpt(path, 256) + "': " + why);
}

/// `<dir>/.<name>.tmp-<16 random hex digits>`: unpredictable, so it cannot be planted in advance.
std::string temporary_name(const std::string& path) {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) io_error(path, "no random bytes");
  static const char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (int i = 0; i < 16; ++i) suffix += kHex[(r >> (4 * i)) & 15];
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + "." + name + ".tmp-" + suffix;
}

bool write_all(int fd, const void* bytes, size_t n) {
  const char* p = static_cast<const char*>(bytes);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

void note_input_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // the reader reports a missing file itself
  const std::lock_guard<std::mutex> lock(inputs_mutex);
  noted_inputs().emplace_back(st.st_dev, st.st_ino);
}

void check_output_path(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // a new file
  if (S_ISLNK(st.st_mode))
    throw std::invalid_argument("output '" + excerpt(path, 256) +
                                "' is a symbolic link: write to its target directly");
  const std::lock_guard<std::mutex> lock(inputs_mutex);
  for (const auto& [dev, ino] : noted_inputs())
    if (st.st_dev == dev && st.st_ino == ino)
      throw std::invalid_argument("output '" + excerpt(path, 256) +
                                  "' is one of this run's input files: it would be overwritten");
}

void write_file_atomic(const std::string& path, const std::vector<ByteRange>& parts) {
  check_output_path(path);
  const std::string tmp = temporary_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) io_error(path, std::strerror(errno));
  bool ok = true;
  for (const ByteRange& part : parts) ok = ok && write_all(fd, part.data, part.size);
  ok = ok && ::fsync(fd) == 0;
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (!ok) {
    ::unlink(tmp.c_str());
    io_error(path, std::strerror(err));
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, {ByteRange{content.data(), content.size()}});
}

}  // namespace vitsim::quant
