// CSV fields as RFC 4180 writes them: the one reader and writer of layers.csv, results.csv and the
// reference tables the tests read (no SystemC, so the RTL tests and the fuzz targets can use it too).
#pragma once

#include <string>
#include <vector>

namespace vitsim::quant {

/// One CSV field: a field with a comma, a quote or a line break is quoted, its quotes doubled.
std::string csv_field(const std::string& s);
/// One CSV line into its fields; a quoted field (as csv_field writes names with a comma) may hold commas and
/// doubled quotes.
std::vector<std::string> csv_fields(const std::string& line);

}  // namespace vitsim::quant
