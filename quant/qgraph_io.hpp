// The quantized-graph file (.vqg): a versioned JSON header followed by two sections of little-endian binary
// tensors, the small arrays and the weights (read only when values are computed).
// Format: docs/qgraph-format.md. Writing is atomic (temporary file + rename); loading validates every
// field and every byte range and fails with a message that names the file and what is wrong.
#pragma once

#include <string>

#include "quant/qgraph.hpp"

namespace vitsim::quant {

constexpr int kQGraphFormatVersion = 2;

/// Writes `qgraph` to `path` atomically. Throws std::runtime_error on an I/O error.
void save_qgraph(const QGraph& qgraph, const std::string& path);

/// Reads and validates a .vqg file. Throws std::invalid_argument with the file name and the problem
/// (bad magic, unsupported version, malformed JSON, missing or mistyped field with its JSON path,
/// a tensor outside its section, a size that does not match its shape, checksum mismatch).
/// QGraphUse::Structure (timing-only simulation) reads no byte of the weights section: the weight codes
/// (QNode::weight) and FP32 parameters (Node::params) stay empty, their references are range-checked.
/// QGraphUse::Compute reads and checks both sections. Either way the graph passes validate(Structure);
/// the executors check QGraphUse::Compute themselves.
QGraph load_qgraph(const std::string& path, QGraphUse use = QGraphUse::Compute);

}  // namespace vitsim::quant
