// Engine types by name (Ramulator 2 style): an accelerator config lists engines as
// {"name": ..., "type": ..., <type-specific parameters>}; the type name selects a registered parser that
// turns the JSON object into a validated EngineParams. A new kind of engine is one .cpp that defines its
// EngineParams subclass and a parser, and registers them with VITSIM_REGISTER_ENGINE (see
// docs/config-reference.md, "Adding an engine type").
//
// Registration is explicit, not by static initializers: VITSIM_REGISTER_ENGINE(id, ...) defines a function
// `register_engine_<id>(EngineRegistry&)`, and EngineRegistry::instance() calls every function named in
// VITSIM_BUILTIN_ENGINES (engine_registry.cpp) the first time it is used. Static registrar objects in a
// static library are silently dropped by the linker when nothing references their object file; explicit
// calls cannot be dropped, and they also avoid static-initialization-order problems.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quant/json_reader.hpp"

namespace vitsim::arch {

struct ComputeTile;
struct GroupPipeline;
enum class TileWork : int;

/// The validated, type-specific parameters of one engine instance.
class EngineParams {
 public:
  virtual ~EngineParams() = default;
  /// The registered type name ("mat", "rmac", "systolic", ...).
  virtual std::string type() const = 0;
  /// Number of hardware multipliers (INT8 x INT8) the engine instantiates.
  virtual int64_t multipliers() const = 0;
  /// One human-readable line: the shape of the engine (e.g. "pe 8 x lanes 8 x replicas 16").
  virtual std::string summary() const = 0;
  /// The parameters as JSON (including derived values), for `vitsim accel --json` and reports.
  virtual nlohmann::json to_json() const = 0;
  /// Whether the engine runs tiles of this work kind (Depthwise: with this kernel size and stride).
  virtual bool supports(TileWork work, int kernel, int stride) const = 0;
  /// The output-group pipeline (arch/tile_timing.hpp) of a tile this engine supports: how the engine's
  /// dataflow maps the tile's work onto groups, waves, operand bytes and pipeline depth.
  virtual GroupPipeline group_pipeline(const ComputeTile& tile) const = 0;
};

/// Parses the type-specific keys of one engine object. "name" and "type" have already been read; the
/// parser reads the rest, validates them, and must leave no key unread (the caller rejects unknown keys).
using EngineParser = std::function<std::unique_ptr<EngineParams>(quant::JsonReader&)>;

struct EngineType {
  std::string name;         // the "type" value in configs
  std::string description;  // one line, for listings and errors
  EngineParser parse;
};

class EngineRegistry {
 public:
  /// The process-wide registry, with every built-in engine type registered.
  static EngineRegistry& instance();

  /// Adds a type; throws std::logic_error if the name is taken or empty.
  void add(EngineType type);
  /// The type registered under `name`, or nullptr.
  const EngineType* find(const std::string& name) const;
  /// Registered type names, sorted.
  std::vector<std::string> names() const;
  /// "mat, rmac, systolic" (sorted, comma-separated).
  std::string names_list() const;

 private:
  EngineRegistry() = default;
  std::map<std::string, EngineType> types_;
};

/// Defines `void register_engine_<id>(EngineRegistry&)`, registering type "<type_name>".
#define VITSIM_REGISTER_ENGINE(id, type_name, description, parser)      \
  void register_engine_##id(::vitsim::arch::EngineRegistry& registry) { \
    registry.add({type_name, description, parser});                     \
  }

/// Per-stage pipeline latencies shared by the MAC-array engines (cycles; each at least 1).
struct PipelineLatency {
  int fetch = 1;       // operand fetch from the on-chip buffers, cycles
  int multiply = 1;    // multiplier stage, cycles
  int accumulate = 1;  // accumulator update, cycles
  int writeback = 1;   // result write-back to the output buffer, cycles
  int total() const { return fetch + multiply + accumulate + writeback; }
  nlohmann::json to_json() const;
};

/// Reads the optional "pipeline" object {fetch, multiply, accumulate, writeback} (defaults 1, range [1, 64]).
PipelineLatency read_pipeline(quant::JsonReader& engine);

}  // namespace vitsim::arch
