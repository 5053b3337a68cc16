// `vitsim validate`: vitsim's figures side by side with their anchors (docs/validation.md): SCALE-Sim's
// formulas on random GEMMs and ResNet-50's conv layers, hand-derived closed forms per engine, fast mode
// against cycle mode, functional outputs against the integer reference executor, and the published
// Trio-ViT precursor throughput. Every figure is measured when the command runs; nothing is copied.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace vitsim::sim {

struct ValidationRow {
  std::string section;  // the group of anchors it belongs to
  std::string check;    // what is compared, on what
  std::string anchor, vitsim, difference;
  bool exact = true;  // an exact anchor: the row passes only with no difference; else informational
  bool pass = true;
};

struct ValidationOptions {
  bool quick = false;        // fewer random cases, B0 only, no published-throughput rows (for the test suite)
  bool random_only = false;  // only fast vs cycle on the random accelerators (`--only random`)
  int random_count = 0;      // the first this many random accelerators (`--count`; 0: 200, 10 with quick)
  std::function<void(const std::string&)> progress;  // told what runs next (may be empty)
  std::function<void(const std::string&)> detail;    // one line per random accelerator of fast vs cycle
};

std::vector<ValidationRow> run_validation(const ValidationOptions& options);

/// docs/validation.md: an introduction per section, the rows as tables, and the gap analysis.
std::string validation_markdown(const std::vector<ValidationRow>& rows, double wall_seconds);

/// The RTL co-simulation section's markers in docs/validation.md: tools/rtl_validation.py writes what lies
/// between them (from a run of vitsim_rtl_tests), and `vitsim validate --out` keeps it.
inline constexpr const char* kRtlSectionBegin =
    "<!-- rtl-cosim begin: written by tools/rtl_validation.py; vitsim validate --out keeps it -->";
inline constexpr const char* kRtlSectionEnd = "<!-- rtl-cosim end -->";

/// `generated` with the text between the RTL section's markers taken from `previous` (the file it
/// replaces), when both have the markers; otherwise `generated` unchanged.
std::string keep_rtl_section(const std::string& generated, const std::string& previous);

struct ValidateArgs {
  std::string out;  // the markdown file to write (atomically); only printed when empty
  bool quick = false;
  bool verbose = false;  // also print each random accelerator's fast and cycle cycles and stall gaps
  std::string only;      // "random": only fast vs cycle on the random accelerators (no --out); empty: all
  int count = 0;         // with only == "random": the first this many of them (the same draws); 0: 200
};

/// Runs the validation, prints one line per row, writes the markdown; exit code 1 if an exact row fails.
int run_validate(const ValidateArgs& args, std::ostream& out, std::ostream& err);

}  // namespace vitsim::sim
