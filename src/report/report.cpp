// The HTML report: sections in order, one style sheet, written atomically.
#include <string>

#include "io/file_util.h"
#include "lstm/report.h"
#include "lstm/tensor.h"

namespace lstm {

namespace {

constexpr const char* style = R"(
body { font-family: sans-serif; margin: 24px auto; padding: 0 16px; max-width: 1000px; color: #222; }
h1 { font-size: 24px; } h2 { font-size: 18px; margin-top: 28px; }
figure { margin: 16px 0; }
figcaption { font-weight: bold; margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 10px; white-space: pre-wrap; }
footer { margin-top: 32px; font-size: 12px; color: #777; }
)";

std::string figure(const std::string& caption, const std::string& body) {
  return "<figure>" + (caption.empty() ? "" : "<figcaption>" + html_escape(caption) + "</figcaption>") + body + "</figure>\n";
}

}  // namespace

Report::Report(std::string title) : title_(std::move(title)) {}

void Report::add_heading(const std::string& text) { sections_.push_back("<h2>" + html_escape(text) + "</h2>\n"); }

void Report::add_paragraph(const std::string& text) { sections_.push_back("<p>" + html_escape(text) + "</p>\n"); }

void Report::add_line_chart(const LineChart& chart) { sections_.push_back(figure("", line_chart_svg(chart))); }

void Report::add_table(const std::string& caption, const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
  std::string table = "<table><thead><tr>";
  for (const std::string& name : header) table += "<th>" + html_escape(name) + "</th>";
  table += "</tr></thead><tbody>";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != header.size())
      throw Error("report table '" + caption + "': expected " + std::to_string(header.size()) + " cells in row " +
                  std::to_string(r) + ", got " + std::to_string(rows[r].size()));
    table += "<tr>";
    for (const std::string& cell : rows[r]) table += "<td>" + html_escape(cell) + "</td>";
    table += "</tr>";
  }
  sections_.push_back(figure(caption, table + "</tbody></table>"));
}

void Report::add_confusion_matrix(const std::string& caption, const std::vector<std::string>& labels,
                                  const std::vector<std::vector<int64_t>>& counts) {
  sections_.push_back(figure(caption, confusion_matrix_svg(labels, counts)));
}

void Report::add_text_sample(const std::string& caption, const std::string& text) {
  sections_.push_back(figure(caption, "<pre>" + html_escape(text) + "</pre>"));
}

std::string Report::html() const {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                     html_escape(title_) + "</title>\n<style>" + style + "</style>\n</head>\n<body>\n<h1>" +
                     html_escape(title_) + "</h1>\n";
  for (const std::string& section : sections_) html += section;
  return html + "<footer>Written by lstm.cpp.</footer>\n</body>\n</html>\n";
}

void Report::write(const std::string& path) const {
  io_detail::AtomicFileWriter file(path);
  file.write(html());
  file.commit();
}

}  // namespace lstm
