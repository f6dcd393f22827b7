// HTML reports: one self-contained file (no scripts, no external resources) with inline SVG
// charts drawn here — line charts with axes, ticks and a legend, a confusion-matrix heat map —
// tables and text samples.
//
//     lstm::Report report("AirPassengers");
//     report.add_line_chart({.title = "Loss", .x_label = "epoch", .y_label = "MSE",
//                            .series = {{.name = "loss", .x = epochs, .y = loss},
//                                       {.name = "val_loss", .x = epochs, .y = val_loss}}});
//     report.add_table("Test part", {"model", "RMSE"}, {{"LSTM", "21.3"}, {"naive", "48.1"}});
//     report.write("report.html");
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lstm {

struct ChartSeries {
  std::string name;
  std::vector<double> x;  // empty: 0, 1, 2, …
  std::vector<double> y;  // a non-finite value leaves a gap in the line
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
};

// Tick values for an axis over [low, high]: multiples of a step of 1, 2 or 5 × 10^k chosen to
// give about `count` ticks, the first ≤ low and the last ≥ high.
std::vector<double> nice_ticks(double low, double high, int count = 6);

// `text` with &, <, >, " and ' written as character references.
std::string html_escape(std::string_view text);

// SVG elements (<svg>…</svg>) for embedding in HTML. Throws lstm::Error when a series' x and y
// differ in length, or the confusion matrix is not labels × labels.
std::string line_chart_svg(const LineChart& chart, int width = 760, int height = 380);
// Cells shaded by their share of the actual class's row, with the count written in each.
std::string confusion_matrix_svg(const std::vector<std::string>& labels,
                                 const std::vector<std::vector<int64_t>>& counts);

class Report {
 public:
  explicit Report(std::string title);

  void add_heading(const std::string& text);
  void add_paragraph(const std::string& text);
  void add_line_chart(const LineChart& chart);
  // rows: cells as text; each row as long as the header (lstm::Error otherwise).
  void add_table(const std::string& caption, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);
  void add_confusion_matrix(const std::string& caption, const std::vector<std::string>& labels,
                            const std::vector<std::vector<int64_t>>& counts);
  // Preformatted text (generated samples), line breaks kept.
  void add_text_sample(const std::string& caption, const std::string& text);

  // The whole document.
  std::string html() const;
  // Writes html() atomically (a temporary file renamed over `path`).
  void write(const std::string& path) const;

 private:
  std::string title_;
  std::vector<std::string> sections_;  // HTML fragments, in order
};

}  // namespace lstm
