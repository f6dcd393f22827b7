// Time series from a table: which columns are time, numbers and missing values, the calendar.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include "data/messages.h"
#include "lstm/data.h"

namespace lstm {

using data_detail::ascii_lower;
using data_detail::data_error;
using data_detail::joined;
using data_detail::in_quotes;

namespace {

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool is_missing(std::string_view cell) {
  const std::string lower = ascii_lower(trimmed(cell));
  return lower.empty() || lower == "na" || lower == "n/a" || lower == "nan";
}

// The whole (trimmed) cell as a finite number, or nothing.
std::optional<double> parse_number(std::string_view cell) {
  const std::string_view text = trimmed(cell);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return {};
  return value;
}

// Days from 1970-01-01 to the proleptic Gregorian date y-m-d (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;                                      // [0, 399]
  const int64_t day_of_year = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;      // [0, 365]
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// Digits at text[at, at + count) as a number, or nothing.
std::optional<int64_t> digits(std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) return {};
  int64_t value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return {};
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Seconds since 1970 of an ISO 8601 date "YYYY-MM-DD", optionally followed by 'T' or ' ' and
// "HH:MM[:SS[.fraction]]" and 'Z'; nothing if the cell is not one.
std::optional<double> parse_iso_date(std::string_view cell) {
  const std::string_view text = trimmed(cell);
  const auto year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  if (!year || !month || !day || text[4] != '-' || text[7] != '-') return {};
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31) return {};
  double seconds = 86400.0 * static_cast<double>(days_from_civil(*year, *month, *day));
  std::string_view rest = text.substr(10);
  if (rest.empty()) return seconds;
  if (rest.back() == 'Z') rest.remove_suffix(1);
  if (rest[0] != 'T' && rest[0] != ' ') return {};
  const auto hour = digits(rest, 1, 2), minute = digits(rest, 4, 2);
  if (!hour || !minute || rest.size() < 6 || rest[3] != ':' || *hour > 23 || *minute > 59) return {};
  seconds += 3600.0 * static_cast<double>(*hour) + 60.0 * static_cast<double>(*minute);
  if (rest.size() == 6) return seconds;
  const std::optional<double> second = rest[6] == ':' ? parse_number(rest.substr(7)) : std::nullopt;
  if (!second || *second < 0 || *second >= 61) return {};
  return seconds + *second;
}

bool all_cells(const Table& table, int64_t column, auto&& predicate) {
  return std::all_of(table.rows.begin(), table.rows.end(),
                     [&](const std::vector<Cell>& row) { return predicate(row[column].text); });
}

bool holds_iso_dates(const Table& table, int64_t column) {
  return all_cells(table, column, [](const std::string& cell) { return parse_iso_date(cell).has_value(); });
}

// The median of the spacings between consecutive values (0 with fewer than two values).
double median_spacing(const std::vector<double>& times) {
  if (times.size() < 2) return 0;
  std::vector<double> spacing(times.size() - 1);
  for (std::size_t i = 1; i < times.size(); ++i) spacing[i - 1] = times[i] - times[i - 1];
  std::nth_element(spacing.begin(), spacing.begin() + spacing.size() / 2, spacing.end());
  return spacing[spacing.size() / 2];
}

bool near(double value, double expected, double relative_tolerance) {
  return std::abs(value - expected) <= relative_tolerance * expected;
}

// The calendar season (see TimeSeries::calendar_period) from the time columns of the kept rows.
int64_t calendar_period_of(const Table& table, const std::vector<int64_t>& time_columns,
                           const std::vector<std::size_t>& kept_rows) {
  // By name, finest first.
  constexpr std::array<std::pair<std::string_view, int64_t>, 5> periods_by_name = {
      {{"hour", 24}, {"day", 7}, {"week", 52}, {"month", 12}, {"quarter", 4}}};
  for (const auto& [name, period] : periods_by_name)
    for (const int64_t c : time_columns)
      if (ascii_lower(table.columns[c]) == name) return period;
  // By the spacing of ISO dates or decimal years.
  for (const int64_t c : time_columns) {
    const bool iso = holds_iso_dates(table, c);
    const bool decimal_year = ascii_lower(table.columns[c]) == "time" &&
                              all_cells(table, c, [](const std::string& cell) { return parse_number(cell).has_value(); });
    if (!iso && !decimal_year) continue;
    std::vector<double> times;
    for (const std::size_t r : kept_rows)
      times.push_back(iso ? *parse_iso_date(table.rows[r][c].text) : *parse_number(table.rows[r][c].text));
    const double spacing = median_spacing(times);
    if (iso) {
      constexpr double hour = 3600, day = 24 * hour;
      if (near(spacing, hour, 0.01)) return 24;
      if (near(spacing, day, 0.01)) return 7;
      if (near(spacing, 7 * day, 0.01)) return 52;
      if (spacing >= 28 * day && spacing <= 31 * day) return 12;
      if (spacing >= 89 * day && spacing <= 92 * day) return 4;
    } else {
      if (near(spacing, 1.0 / 12, 0.01)) return 12;
      if (near(spacing, 1.0 / 4, 0.01)) return 4;
    }
  }
  return 0;
}

}  // namespace

std::string missing_values_name(MissingValues policy) {
  switch (policy) {
    case MissingValues::error: return "error";
    case MissingValues::forward_fill: return "ffill";
    case MissingValues::interpolate: return "interpolate";
    case MissingValues::drop: return "drop";
  }
  return "?";
}

MissingValues missing_values_from_name(const std::string& name) {
  for (const MissingValues policy : {MissingValues::error, MissingValues::forward_fill,
                                     MissingValues::interpolate, MissingValues::drop})
    if (missing_values_name(policy) == name) return policy;
  throw Error("unknown missing-value policy " + in_quotes(name) + "; expected one of: error, ffill, interpolate, drop");
}

bool is_time_column_name(std::string_view name) {
  static const std::array<std::string_view, 12> names = {"date", "datetime", "time", "timestamp",
                                                         "year", "quarter", "month", "week",
                                                         "day", "hour", "minute", "second"};
  return std::find(names.begin(), names.end(), ascii_lower(name)) != names.end();
}

std::vector<double> TimeSeries::column(int64_t column) const {
  std::vector<double> out(static_cast<std::size_t>(rows()));
  for (int64_t r = 0; r < rows(); ++r) out[r] = at(r, column);
  return out;
}

TimeSeries make_time_series(const Table& table, const SeriesOptions& options) {
  TimeSeries series;
  series.source = table.source;
  const int64_t column_count = static_cast<int64_t>(table.columns.size());

  std::vector<int64_t> time_columns;
  std::vector<std::string> value_columns;
  for (int64_t c = 0; c < column_count; ++c) {
    if (is_time_column_name(table.columns[c]) || holds_iso_dates(table, c)) {
      time_columns.push_back(c);
      series.time_columns.push_back(table.columns[c]);
    } else {
      value_columns.push_back(table.columns[c]);
    }
  }

  // The used columns: the target, then the features.
  std::string target = options.target;
  if (target.empty()) {
    if (value_columns.size() != 1)
      throw Error(table.source + ": expected one column to forecast, found " +
                  (value_columns.empty() ? std::string("none besides the time columns (") + joined(series.time_columns) + ")"
                                         : std::to_string(value_columns.size()) + " (" + joined(value_columns) + ")") +
                  "; name the target column");
    target = value_columns[0];
  }
  std::vector<int64_t> used = {table.column_index(target)};
  for (const std::string& name : options.features) {
    const int64_t c = table.column_index(name);
    if (std::find(used.begin(), used.end(), c) != used.end())
      throw Error(table.source + ": column " + in_quotes(name) + " is named twice among the target and the features");
    used.push_back(c);
  }
  for (const int64_t c : used) {
    if (std::find(time_columns.begin(), time_columns.end(), c) != time_columns.end())
      throw Error(table.source + ": column " + in_quotes(table.columns[c]) +
                  " is a time column, not a value; the value columns are: " + joined(value_columns));
    series.columns.push_back(table.columns[c]);
  }

  // Numbers, with missing ones as nothing.
  const std::size_t row_count = table.rows.size();
  std::vector<std::vector<std::optional<double>>> cells(used.size(), std::vector<std::optional<double>>(row_count));
  for (std::size_t u = 0; u < used.size(); ++u) {
    for (std::size_t r = 0; r < row_count; ++r) {
      const Cell& cell = table.rows[r][used[u]];
      if (is_missing(cell.text)) {
        if (options.missing == MissingValues::error)
          throw data_error(table.source, cell.line, cell.column,
                           "expected a number in column " + in_quotes(series.columns[u]) +
                               ", found a missing value " + in_quotes(cell.text) +
                               "; choose a missing-value policy (ffill, interpolate or drop) to fill it");
        continue;
      }
      cells[u][r] = parse_number(cell.text);
      if (!cells[u][r])
        throw data_error(table.source, cell.line, cell.column,
                         "expected a number in column " + in_quotes(series.columns[u]) + ", found " + in_quotes(cell.text));
    }
  }

  // Missing values filled, or their rows dropped.
  std::vector<bool> keep(row_count, true);
  for (std::size_t u = 0; u < used.size(); ++u) {
    std::vector<std::optional<double>>& values = cells[u];
    for (std::size_t r = 0; r < row_count; ++r) {
      if (values[r]) continue;
      const Cell& cell = table.rows[r][used[u]];
      const std::string where = "the missing value in column " + in_quotes(series.columns[u]);
      if (options.missing == MissingValues::drop) {
        keep[r] = false;
        continue;
      }
      if (r == 0)
        throw data_error(table.source, cell.line, cell.column,
                         "expected a value before " + where + " to fill it from, found the start of the series; use drop");
      if (options.missing == MissingValues::forward_fill) {
        values[r] = values[r - 1];
        ++series.filled;
      } else {
        // Linear interpolation between the known values at rows a < r < b:
        //   x_r = x_a + (x_b − x_a)·(r − a)/(b − a)
        std::size_t b = r + 1;
        while (b < row_count && !values[b]) ++b;
        if (b == row_count)
          throw data_error(table.source, cell.line, cell.column,
                           "expected a value after " + where + " to interpolate to, found the end of the series; use ffill or drop");
        const std::size_t a = r - 1;
        for (std::size_t i = r; i < b; ++i)
          values[i] = *values[a] + (*values[b] - *values[a]) * static_cast<double>(i - a) / static_cast<double>(b - a);
        series.filled += static_cast<int64_t>(b - r);
      }
    }
  }

  std::vector<std::size_t> kept_rows;
  for (std::size_t r = 0; r < row_count; ++r) {
    if (!keep[r]) {
      ++series.dropped;
      continue;
    }
    kept_rows.push_back(r);
    for (std::size_t u = 0; u < used.size(); ++u) series.values.push_back(*cells[u][r]);
    series.lines.push_back(table.rows[r][0].line);
    if (time_columns.empty()) continue;
    std::string label;
    for (const int64_t c : time_columns) label += (label.empty() ? "" : "-") + table.rows[r][c].text;
    series.time_labels.push_back(std::move(label));
  }
  if (kept_rows.empty())
    throw Error(table.source + ": expected rows without missing values, found none (every row was dropped)");
  series.calendar_period = calendar_period_of(table, time_columns, kept_rows);
  return series;
}

TimeSeries read_time_series(const std::string& path, const SeriesOptions& options) {
  return make_time_series(read_table(path), options);
}

}  // namespace lstm
