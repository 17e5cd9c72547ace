// A small CSV reader for trace files: a header line naming the columns, then
// one record a line, comma-separated, no quoting (the trace formats have none).
// Every error names the file, the line and the column.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rackos::sim {

class CsvTable {
 public:
  // Reads `path`; every column in `required` must be in the header.
  static Result<CsvTable> read(const std::string& path, const std::vector<std::string>& required);
  // Parses text already in memory (`name` is used in errors).
  static Result<CsvTable> parse(const std::string& name, std::string_view text, const std::vector<std::string>& required);

  size_t rows() const { return rows_.size(); }
  int column(std::string_view name) const;  // -1 when absent
  const std::string& cell(size_t row, int col) const { return rows_[row][static_cast<size_t>(col)]; }
  size_t line_of(size_t row) const { return lines_[row]; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& header() const { return header_; }

  // Typed cells; errors read "pods.csv line 12, column cpu_milli: "x" is not a number".
  Result<int64_t> integer(size_t row, std::string_view column) const;
  Result<double> number(size_t row, std::string_view column) const;
  // Non-negative integer (sizes, counts, times).
  Result<int64_t> size(size_t row, std::string_view column) const;
  Result<std::string> text(size_t row, std::string_view column) const;

 private:
  Error where(size_t row, std::string_view column, const std::string& what) const;
  std::string name_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<size_t> lines_;
};

}  // namespace rackos::sim
