// Plain-text tables with aligned columns, for the tool's human-readable
// output (`commvq demo` results, `commvq list` options).
#ifndef COMMVQ_CLI_TEXT_TABLE_H_
#define COMMVQ_CLI_TEXT_TABLE_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace commvq {
namespace cli {

class TextTable {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = Align::kLeft;
  };

  explicit TextTable(std::vector<Column> columns);

  // `cells` must have one entry per column (checked by assert).
  void AddRow(std::vector<std::string> cells);

  // The header, a rule of dashes, then the rows; each line starts with
  // `indent`, columns are separated by two spaces, trailing spaces dropped.
  void Print(std::ostream& out, absl::string_view indent = "") const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_TEXT_TABLE_H_
