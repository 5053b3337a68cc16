#include "sim/cli/cmd_autotune.hpp"

#include <iomanip>
#include <ostream>
#include <sstream>

#include "quant/atomic_file.hpp"
#include "quant/dataset.hpp"
#include "quant/json_reader.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/dse/autotune.hpp"

namespace vitsim::sim {

namespace {

std::string describe(const AutotuneCandidate& c) {
  std::ostringstream s;
  s << "replicas " << c.replicas << ", dsp_lanes " << c.dsp_lanes << ", lut_lanes " << c.lut_lanes
    << ", power-of-two ratio " << std::fixed << std::setprecision(4) << c.ratio << ": " << c.resources.dsps
    << " DSPs, " << c.resources.luts << " LUTs";
  if (c.simulated) s << ", " << std::setprecision(1) << c.fps << " FPS";
  return s.str();
}

}  // namespace

CLI::App* add_autotune_command(CLI::App& app, AutotuneArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "autotune",
      "Auto-ViT-Acc's framework: choose a mixed-scheme engine's lanes and replicas and the power-of-two "
      "ratio for a model, a device and a target FPS (docs/autotune.md)");
  cmd->add_option("-m,--model", args.model, "Zoo model with synthetic weights (see `vitsim models`)")
      ->capture_default_str();
  cmd->add_option("-r,--res", args.resolution, "Input resolution")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--device", args.device, "FPGA device name in configs/devices/ or a device file")
      ->capture_default_str();
  cmd->add_option("--fps", args.fps, "Target frames per second (> 0)")->required();
  cmd->add_option("--recipe", args.recipe, "Recipe with mixed_scheme (name in configs/quant/ or a file)")
      ->capture_default_str();
  cmd->add_option("--base", args.base,
                  "Accelerator config the candidates derive from (one engine of type mixed)")
      ->capture_default_str();
  cmd->add_option("-o,--out", args.out, "Write the chosen design as an accelerator config here");
  cmd->add_option("--seed", args.seed, "Seed of the synthetic weights and calibration image")
      ->capture_default_str();
  return cmd;
}

int run_autotune(const AutotuneArgs& args, std::ostream& out, std::ostream& err) {
  AutotuneSpec spec;
  spec.graph = quant::build_model(args.model, args.resolution);  // unknown: fails before any work
  quant::materialize_synthetic_weights(spec.graph, args.seed);
  spec.calibration = quant::synthetic_images(1, spec.graph.nodes.at(0).out_shape, args.seed).images;
  spec.device = find_device(args.device);
  spec.fps = args.fps;
  spec.recipe = quant::find_recipe(args.recipe, config_dir() + "/quant");
  const std::string base_path = quant::require_named_json(args.base, config_dir() + "/accel", "accel config");
  spec.base = quant::read_json_file(base_path);
  find_accel(base_path);  // the base itself must be a valid config
  spec.base_name = args.base;
  const AutotuneResult r = autotune(spec, [&err](size_t i, size_t n, const AutotuneCandidate& c) {
    err << "autotune [" << i + 1 << "/" << n << "] " << describe(c) << '\n' << std::flush;
  });
  out << "autotune " << args.model << " @" << args.resolution << " on " << spec.device.name << " for "
      << args.fps << " FPS (" << r.candidates.size() << " candidates fit the device)\n";
  if (r.chosen < 0) {
    out << "  no candidate reaches the target; the fastest simulated: ";
    const AutotuneCandidate* best = nullptr;
    for (const AutotuneCandidate& c : r.candidates)
      if (c.simulated && (!best || c.fps > best->fps)) best = &c;
    out << (best ? describe(*best) : std::string("none")) << '\n';
    return 1;
  }
  const AutotuneCandidate& c = r.candidates[static_cast<size_t>(r.chosen)];
  out << "  chosen: " << describe(c) << '\n'
      << "  quantize with recipe '" << spec.recipe.name << "' and mixed_scheme.pot_ratio "
      << std::setprecision(6) << c.ratio << '\n';
  if (!args.out.empty()) {
    nlohmann::json config = c.config;
    config["name"] = "autotune-" + args.model;
    config["description"] = "Chosen by vitsim autotune for " + args.model + " @" +
                            std::to_string(args.resolution) + " on " + spec.device.name +
                            " at >= " + std::to_string(args.fps) + " FPS, from " + args.base;
    std::ostringstream note;
    note << "autotune: replicas " << c.replicas << ", dsp_lanes " << c.dsp_lanes << ", lut_lanes "
         << c.lut_lanes << " (the most LUT lanes that fit); recipe " << spec.recipe.name
         << " with mixed_scheme.pot_ratio " << std::setprecision(6) << c.ratio
         << " = lut_lanes / (dsp_lanes + "
         << "lut_lanes), so both lane kinds finish together; " << std::setprecision(1) << std::fixed << c.fps
         << " FPS in fast mode with synthetic weights (seed " << args.seed << ")";
    config["notes"].push_back(note.str());
    quant::write_file_atomic(args.out, config.dump(2) + "\n");
    out << "  wrote " << args.out << '\n';
  }
  return 0;
}

}  // namespace vitsim::sim
