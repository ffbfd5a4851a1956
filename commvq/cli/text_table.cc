#include "commvq/cli/text_table.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace commvq {
namespace cli {

TextTable::TextTable(std::vector<Column> columns)
    : columns_(std::move(columns)) {}

void TextTable::AddRow(std::vector<std::string> cells) {
  assert(cells.size() == columns_.size());
  rows_.push_back(std::move(cells));
}

void TextTable::Print(std::ostream& out, absl::string_view indent) const {
  std::vector<size_t> widths(columns_.size());
  std::vector<std::string> header;
  std::vector<std::string> rule;
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = columns_[c].header.size();
    for (const auto& row : rows_)
      widths[c] = std::max(widths[c], row[c].size());
    header.push_back(columns_[c].header);
    rule.push_back(std::string(widths[c], '-'));
  }
  auto print_line = [&](const std::vector<std::string>& cells) {
    std::string line(indent);
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) line += "  ";
      const std::string padding(widths[c] - cells[c].size(), ' ');
      line += columns_[c].align == Align::kRight ? padding + cells[c]
                                                 : cells[c] + padding;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  };
  print_line(header);
  print_line(rule);
  for (const auto& row : rows_) print_line(row);
}

}  // namespace cli
}  // namespace commvq
