// Engine type "systolic": parameters, parser and registration.
#include "arch/engine_types.hpp"

namespace vitsim::arch {

namespace {
std::unique_ptr<EngineParams> parse_systolic(quant::JsonReader& r) {
  auto p = std::make_unique<SystolicParams>();
  r.require("rows");
  p->rows = r.integer("rows", 0, 1, 4096);
  r.require("cols");
  p->cols = r.integer("cols", 0, 1, 4096);
  p->dataflow = parse_dataflow(r.choice("dataflow", "os", {"os", "ws", "is"}));
  return p;
}
}  // namespace

std::string SystolicParams::summary() const {
  return std::to_string(rows) + " x " + std::to_string(cols) + " systolic array, " + dataflow_name(dataflow) +
         " dataflow";
}

nlohmann::json SystolicParams::to_json() const {
  return {{"rows", rows}, {"cols", cols}, {"dataflow", dataflow_name(dataflow)}};
}

VITSIM_REGISTER_ENGINE(systolic, "systolic",
                       "systolic GEMM array (rows x cols PEs; dataflow os | ws | is), SCALE-Sim timing",
                       parse_systolic)

}  // namespace vitsim::arch
