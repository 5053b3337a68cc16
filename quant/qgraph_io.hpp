// The quantized-graph file (.vqg): a versioned JSON header followed by little-endian binary tensors.
// Format: docs/qgraph-format.md. Writing is atomic (temporary file + rename); loading validates every
// field and every byte range and fails with a message that names the file and what is wrong.
#pragma once

#include <string>

#include "quant/qgraph.hpp"

namespace vitsim::quant {

constexpr int kQGraphFormatVersion = 1;

/// Writes `qgraph` to `path` atomically. Throws std::runtime_error on an I/O error.
void save_qgraph(const QGraph& qgraph, const std::string& path);

/// Reads and validates a .vqg file. Throws std::invalid_argument with the file name and the problem
/// (bad magic, unsupported version, malformed JSON, missing or mistyped field with its JSON path,
/// a tensor outside the data section, a size that does not match its shape, checksum mismatch).
QGraph load_qgraph(const std::string& path);

}  // namespace vitsim::quant
