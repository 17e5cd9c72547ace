// CSV reading for traces (see csv_table.h).
#include "sim/csv_table.h"

#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace rackos::sim {
namespace {

std::vector<std::string> split_line(std::string_view line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    std::string_view cell = line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.remove_suffix(1);
    while (!cell.empty() && cell.front() == ' ') cell.remove_prefix(1);
    out.emplace_back(cell);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<CsvTable> CsvTable::read(const std::string& path, const std::vector<std::string>& required) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read " + path + ": " + std::strerror(errno)};
  std::stringstream text;
  text << in.rdbuf();
  return parse(base_name(path), text.str(), required);
}

Result<CsvTable> CsvTable::parse(const std::string& name, std::string_view text, const std::vector<std::string>& required) {
  CsvTable t;
  t.name_ = name;
  size_t line_no = 0;
  size_t pos = 0;
  bool have_header = false;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.empty() || line == "\r") continue;
    auto cells = split_line(line);
    if (!have_header) {
      t.header_ = std::move(cells);
      have_header = true;
      for (const auto& r : required) {
        if (t.column(r) < 0) return Error{name + " line " + std::to_string(line_no) + ": missing column \"" + r + "\""};
      }
      continue;
    }
    if (cells.size() != t.header_.size()) {
      return Error{name + " line " + std::to_string(line_no) + ": " + std::to_string(cells.size()) + " fields, the header has " +
                   std::to_string(t.header_.size())};
    }
    t.rows_.push_back(std::move(cells));
    t.lines_.push_back(line_no);
  }
  if (!have_header) return Error{name + ": empty file (no header line)"};
  return t;
}

int CsvTable::column(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

Error CsvTable::where(size_t row, std::string_view column, const std::string& what) const {
  return Error{name_ + " line " + std::to_string(lines_[row]) + ", column " + std::string(column) + ": " + what};
}

Result<std::string> CsvTable::text(size_t row, std::string_view column) const {
  int c = this->column(column);
  if (c < 0) return Error{name_ + ": missing column \"" + std::string(column) + "\""};
  return cell(row, c);
}

Result<double> CsvTable::number(size_t row, std::string_view column) const {
  auto t = text(row, column);
  if (!t) return t.error();
  const std::string& s = *t;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) {
    return where(row, column, "\"" + s + "\" is not a number");
  }
  return v;
}

Result<int64_t> CsvTable::integer(size_t row, std::string_view column) const {
  auto v = number(row, column);
  if (!v) return v.error();
  if (*v != std::floor(*v) || std::fabs(*v) > 9e15) {
    return where(row, column, "\"" + *text(row, column) + "\" is not a whole number");
  }
  return static_cast<int64_t>(*v);
}

Result<int64_t> CsvTable::size(size_t row, std::string_view column) const {
  auto v = integer(row, column);
  if (!v) return v.error();
  if (*v < 0) return where(row, column, std::to_string(*v) + " is negative");
  return *v;
}

}  // namespace rackos::sim
