// SVG charts: axis ticks, the line chart and the confusion-matrix heat map.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "lstm/report.h"
#include "lstm/tensor.h"

namespace lstm {

namespace {

// Distinguishable colours (the "Tableau 10" hues), in the order series use them.
constexpr std::array<const char*, 8> palette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string number(double value, int decimals = 1) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// Decimals that show a tick step of 1, 2 or 5 × 10^k exactly: max(0, −k).
int decimals_for_step(double step) {
  return std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
}

// A tick label without a minus sign on zero ("-0.0").
std::string tick_label(double value, int decimals) {
  std::string text = number(value, decimals);
  if (text.find_first_not_of("-0.") == std::string::npos && text[0] == '-') text.erase(0, 1);
  return text;
}

std::string text_element(double x, double y, const std::string& text, const std::string& attributes) {
  return "<text x=\"" + number(x) + "\" y=\"" + number(y) + "\" " + attributes + ">" + html_escape(text) + "</text>";
}

std::string line_element(double x1, double y1, double x2, double y2, const std::string& stroke) {
  return "<line x1=\"" + number(x1) + "\" y1=\"" + number(y1) + "\" x2=\"" + number(x2) + "\" y2=\"" + number(y2) +
         "\" stroke=\"" + stroke + "\"/>";
}

// The step between ticks: range/(count − 1) rounded up to 1, 2 or 5 × 10^k.
double nice_step(double range, int count) {
  const double rough = range / (count - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  for (const double multiple : {1.0, 2.0, 5.0})
    if (rough <= multiple * magnitude * (1 + 1e-9)) return multiple * magnitude;
  return 10 * magnitude;
}

// A label cut to `longest` characters (bytes), with "..." when cut.
std::string shortened(const std::string& label, std::size_t longest) {
  return label.size() <= longest ? label : label.substr(0, longest - 3) + "...";
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int count) {
  if (!std::isfinite(low) || !std::isfinite(high) || high < low || count < 2)
    throw Error("ticks: expected finite low <= high and count >= 2, got [" + std::to_string(low) + ", " +
                std::to_string(high) + "] and " + std::to_string(count));
  if (high == low) {
    // A single value: a range of ±10% around it (±1 around 0).
    const double half = low == 0 ? 1 : std::abs(low) * 0.1;
    low -= half;
    high += half;
  }
  const double step = nice_step(high - low, count);
  // First tick ⌊low/step⌋·step, last ⌈high/step⌉·step; each tick computed as k·step, not summed.
  const auto first = static_cast<int64_t>(std::floor(low / step + 1e-9));
  const auto last = static_cast<int64_t>(std::ceil(high / step - 1e-9));
  std::vector<double> ticks;
  for (int64_t k = first; k <= last; ++k) ticks.push_back(static_cast<double>(k) * step);
  return ticks;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string line_chart_svg(const LineChart& chart, int width, int height) {
  // The data's extent over finite points.
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  const auto x_of = [](const ChartSeries& s, std::size_t i) { return s.x.empty() ? static_cast<double>(i) : s.x[i]; };
  for (const ChartSeries& s : chart.series) {
    if (!s.x.empty() && s.x.size() != s.y.size())
      throw Error("line chart '" + chart.title + "': series '" + s.name + "' has " + std::to_string(s.x.size()) +
                  " x values but " + std::to_string(s.y.size()) + " y values");
    for (std::size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(x_of(s, i))) continue;
      x_min = std::min(x_min, x_of(s, i));
      x_max = std::max(x_max, x_of(s, i));
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
  }

  constexpr double left = 72, right = 16, top = 40, bottom = 50;
  const double plot_width = width - left - right, plot_height = height - top - bottom;
  std::string svg = "<svg width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
                    "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
                    "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>";
  svg += text_element(width / 2.0, 22, chart.title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  if (x_min > x_max) {
    svg += text_element(width / 2.0, height / 2.0, "no data", "text-anchor=\"middle\" fill=\"#666666\"");
    return svg + "</svg>";
  }

  // The y axis spans whole ticks; the x axis spans the data exactly (time runs edge to edge),
  // with the ticks that fall inside it, unless all x are one value.
  const std::vector<double> y_ticks = nice_ticks(y_min, y_max), covering_x_ticks = nice_ticks(x_min, x_max);
  const double y0 = y_ticks.front(), y1 = y_ticks.back();
  const double x0 = x_min < x_max ? x_min : covering_x_ticks.front(), x1 = x_min < x_max ? x_max : covering_x_ticks.back();
  const double tick_step = covering_x_ticks[1] - covering_x_ticks[0], slack = 1e-9 * tick_step;
  std::vector<double> x_ticks;
  for (const double x : covering_x_ticks)
    if (x >= x0 - slack && x <= x1 + slack) x_ticks.push_back(x);
  // Data to pixels: px = left + (x − x0)/(x1 − x0)·plot_width, py = top + plot_height − (y − y0)/(y1 − y0)·plot_height.
  const auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * plot_width; };
  const auto py = [&](double y) { return top + plot_height - (y - y0) / (y1 - y0) * plot_height; };

  // Grid, ticks and their labels.
  const int x_decimals = decimals_for_step(tick_step);
  const int y_decimals = decimals_for_step(y_ticks[1] - y_ticks[0]);
  for (const double x : x_ticks) {
    svg += line_element(px(x), top, px(x), top + plot_height, "#e5e5e5");
    svg += line_element(px(x), top + plot_height, px(x), top + plot_height + 5, "#333333");
    svg += text_element(px(x), top + plot_height + 18, tick_label(x, x_decimals), "text-anchor=\"middle\"");
  }
  for (const double y : y_ticks) {
    svg += line_element(left, py(y), left + plot_width, py(y), "#e5e5e5");
    svg += line_element(left - 5, py(y), left, py(y), "#333333");
    svg += text_element(left - 8, py(y) + 4, tick_label(y, y_decimals), "text-anchor=\"end\"");
  }
  svg += line_element(left, top, left, top + plot_height, "#333333");
  svg += line_element(left, top + plot_height, left + plot_width, top + plot_height, "#333333");
  svg += text_element(left + plot_width / 2, height - 10.0, chart.x_label, "text-anchor=\"middle\"");
  svg += text_element(16, top + plot_height / 2, chart.y_label,
                      "text-anchor=\"middle\" transform=\"rotate(-90 16 " + number(top + plot_height / 2) + ")\"");

  // The series: one polyline per run of finite points; a lone point as a dot.
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const ChartSeries& s = chart.series[k];
    const std::string colour = palette[k % palette.size()];
    std::vector<std::pair<double, double>> run;
    const auto flush = [&] {
      if (run.size() == 1) {
        svg += "<circle cx=\"" + number(run[0].first) + "\" cy=\"" + number(run[0].second) + "\" r=\"3\" fill=\"" +
               colour + "\"/>";
      } else if (run.size() > 1) {
        svg += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"1.8\" points=\"";
        for (const auto& [x, y] : run) svg += number(x) + "," + number(y) + " ";
        svg += "\"/>";
      }
      run.clear();
    };
    for (std::size_t i = 0; i < s.y.size(); ++i) {
      if (std::isfinite(s.y[i]) && std::isfinite(x_of(s, i))) run.emplace_back(px(x_of(s, i)), py(s.y[i]));
      else flush();
    }
    flush();
  }

  // The legend, top right inside the plot.
  std::size_t longest_name = 0;
  for (const ChartSeries& s : chart.series) longest_name = std::max(longest_name, s.name.size());
  const double legend_width = 36 + 7.0 * static_cast<double>(longest_name), row_height = 18;
  const double legend_x = left + plot_width - legend_width - 8, legend_y = top + 8;
  svg += "<rect x=\"" + number(legend_x) + "\" y=\"" + number(legend_y) + "\" width=\"" + number(legend_width) +
         "\" height=\"" + number(row_height * static_cast<double>(chart.series.size()) + 6) +
         "\" fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>";
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const double y = legend_y + 3 + row_height * (static_cast<double>(k) + 0.5);
    svg += "<line x1=\"" + number(legend_x + 6) + "\" y1=\"" + number(y) + "\" x2=\"" + number(legend_x + 26) +
           "\" y2=\"" + number(y) + "\" stroke=\"" + palette[k % palette.size()] + "\" stroke-width=\"3\"/>";
    svg += text_element(legend_x + 31, y + 4, chart.series[k].name, "");
  }
  return svg + "</svg>";
}

std::string confusion_matrix_svg(const std::vector<std::string>& labels,
                                 const std::vector<std::vector<int64_t>>& counts) {
  const std::size_t n = labels.size();
  bool square = counts.size() == n;
  for (const std::vector<int64_t>& row : counts) square = square && row.size() == n;
  if (!square)
    throw Error("confusion matrix: expected " + std::to_string(n) + " x " + std::to_string(n) +
                " counts for the labels, got " + std::to_string(counts.size()) + " rows");
  const double cell = std::clamp(360.0 / static_cast<double>(std::max<std::size_t>(n, 1)), 14.0, 64.0);
  constexpr double left = 130, top = 110, margin = 20;
  const double width = left + cell * static_cast<double>(n) + margin, height = top + cell * static_cast<double>(n) + margin;
  std::string svg = "<svg width=\"" + number(width, 0) + "\" height=\"" + number(height, 0) + "\" viewBox=\"0 0 " +
                    number(width, 0) + " " + number(height, 0) +
                    "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>";
  svg += text_element(left + cell * static_cast<double>(n) / 2, 16, "predicted", "text-anchor=\"middle\" font-weight=\"bold\"");
  svg += text_element(14, top + cell * static_cast<double>(n) / 2, "actual",
                      "text-anchor=\"middle\" font-weight=\"bold\" transform=\"rotate(-90 14 " +
                          number(top + cell * static_cast<double>(n) / 2) + ")\"");
  for (std::size_t i = 0; i < n; ++i) {
    const double centre = static_cast<double>(i) * cell + cell / 2;
    const std::string label = shortened(labels[i], 16);
    svg += text_element(left + centre, top - 8, label,
                        "text-anchor=\"start\" transform=\"rotate(-45 " + number(left + centre) + " " + number(top - 8) + ")\"");
    svg += text_element(left - 8, top + centre + 4, label, "text-anchor=\"end\"");
  }
  for (std::size_t actual = 0; actual < n; ++actual) {
    int64_t row_total = 0;
    for (const int64_t count : counts[actual]) row_total += count;
    for (std::size_t predicted = 0; predicted < n; ++predicted) {
      // share = count / (samples of this actual class); white (share 0) to #2c6fbb (share 1).
      const int64_t count = counts[actual][predicted];
      const double share = row_total > 0 ? static_cast<double>(count) / static_cast<double>(row_total) : 0.0;
      const auto channel = [&](int full) { return static_cast<int>(std::lround(255 + (full - 255) * share)); };
      char fill[8];
      std::snprintf(fill, sizeof fill, "#%02x%02x%02x", channel(0x2c), channel(0x6f), channel(0xbb));
      const double x = left + static_cast<double>(predicted) * cell, y = top + static_cast<double>(actual) * cell;
      svg += "<rect x=\"" + number(x) + "\" y=\"" + number(y) + "\" width=\"" + number(cell) + "\" height=\"" +
             number(cell) + "\" fill=\"" + fill + "\" stroke=\"#999999\"/>";
      if (cell >= 24)
        svg += text_element(x + cell / 2, y + cell / 2 + 4, std::to_string(count),
                            std::string("text-anchor=\"middle\" fill=\"") + (share > 0.5 ? "#ffffff" : "#222222") + "\"");
    }
  }
  return svg + "</svg>";
}

}  // namespace lstm
