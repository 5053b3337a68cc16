// Writing output files atomically: the content goes to a temporary file beside the target, which is then
// renamed over it, so a reader never sees a half-written file and a failed run leaves no partial output.
#pragma once

#include <string>

namespace vitsim::quant {

/// Writes `content` to `path` atomically. Throws std::runtime_error naming the path and the OS error.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace vitsim::quant
