// Writing output files atomically and safely: the content goes to a temporary file created exclusively
// (O_CREAT | O_EXCL | O_NOFOLLOW, a random name) beside the target, is fsync'ed and then renamed over it,
// so a reader never sees a half-written file, a failed run leaves no partial output, and a symbolic link
// planted at the temporary name cannot redirect the write. An output that is one of the run's input
// files, or a symbolic link, is refused.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace vitsim::quant {

/// Remembers `path` (its device and inode) as an input of this run: write_file_atomic refuses to replace
/// it. The command line notes every file its options name, but the outputs.
void note_input_file(const std::string& path);

/// Throws std::invalid_argument if `path` is a symbolic link or the same file as a noted input.
void check_output_path(const std::string& path);

/// A byte range of the content to write.
struct ByteRange {
  const void* data;
  size_t size;
};

/// Writes the concatenation of `parts` to `path` atomically (check_output_path first). Throws
/// std::runtime_error naming the path and the OS error.
void write_file_atomic(const std::string& path, const std::vector<ByteRange>& parts);
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace vitsim::quant
