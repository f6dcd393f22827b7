// The HTML report: ticks, escaping, the SVG charts, the atomic write, and a render in headless
// Chromium whose screenshot must show a real picture.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lstm/data.h"
#include "lstm/report.h"
#include "test_util.h"

namespace {

using lstm::testing::error_of;

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Report, NiceTicks) {
  EXPECT_EQ(lstm::nice_ticks(0, 10), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  // range 518: 518/5 = 103.6 rounds up to a step of 200.
  EXPECT_EQ(lstm::nice_ticks(104, 622), (std::vector<double>{0, 200, 400, 600, 800}));
  // range 0.029: 0.0058 rounds up to 0.01.
  const std::vector<double> small = lstm::nice_ticks(0.013, 0.042);
  ASSERT_EQ(small.size(), 5u);
  EXPECT_NEAR(small.front(), 0.01, 1e-12);
  EXPECT_NEAR(small.back(), 0.05, 1e-12);
  // A single value: ±10% around it, [4.5, 5.5], step 0.2.
  const std::vector<double> single = lstm::nice_ticks(5, 5);
  ASSERT_EQ(single.size(), 7u);
  EXPECT_NEAR(single.front(), 4.4, 1e-12);
  EXPECT_NEAR(single.back(), 5.6, 1e-12);
  EXPECT_EQ(lstm::nice_ticks(-3, 2).front(), -3);
  EXPECT_EQ(error_of([] { lstm::nice_ticks(1, NAN); }),
            "ticks: expected finite low <= high and count >= 2, got [1.000000, nan] and 6");
}

TEST(Report, EscapesText) {
  EXPECT_EQ(lstm::html_escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
}

TEST(Report, LineChartSvg) {
  const std::string svg = lstm::line_chart_svg({.title = "Loss <train>",
                                                .x_label = "epoch",
                                                .y_label = "MSE",
                                                .series = {{.name = "loss", .x = {1, 2, 3}, .y = {0.9, 0.5, 0.3}},
                                                           {.name = "val_loss", .x = {1, 2, 3}, .y = {1.0, NAN, 0.4}}}});
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("Loss &lt;train&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">epoch</text>"), std::string::npos);
  EXPECT_NE(svg.find(">val_loss</text>"), std::string::npos);
  EXPECT_EQ(count_of(svg, "<polyline"), 1);  // loss; val_loss is two lone points around the gap
  EXPECT_EQ(count_of(svg, "<circle"), 2);
  EXPECT_NE(svg.find(">0.2</text>"), std::string::npos);  // a y tick
  EXPECT_NE(svg.find(">1.5</text>"), std::string::npos);  // an x tick
  EXPECT_EQ(error_of([] { lstm::line_chart_svg({.title = "t", .series = {{.name = "s", .x = {1}, .y = {1, 2}}}}); }),
            "line chart 't': series 's' has 1 x values but 2 y values");
  EXPECT_NE(lstm::line_chart_svg({.title = "empty"}).find(">no data</text>"), std::string::npos);
}

TEST(Report, ConfusionMatrixSvg) {
  const std::string svg = lstm::confusion_matrix_svg({"ham", "spam"}, {{90, 10}, {5, 45}});
  EXPECT_EQ(count_of(svg, "<rect"), 5);  // the background and four cells
  EXPECT_NE(svg.find("fill=\"#417dc2\""), std::string::npos);  // 90/100 of the way from white to #2c6fbb
  EXPECT_NE(svg.find(">45</text>"), std::string::npos);
  EXPECT_EQ(error_of([] { lstm::confusion_matrix_svg({"a", "b"}, {{1, 2}}); }),
            "confusion matrix: expected 2 x 2 counts for the labels, got 1 rows");
}

// A report with every kind of section, as `lstm train/evaluate` will write them.
lstm::Report sample_report() {
  lstm::Report report("AirPassengers: LSTM forecast");
  report.add_paragraph("Season 12 detected; window 24.");
  std::vector<double> epochs, loss, val_loss;
  for (int e = 1; e <= 40; ++e) {
    epochs.push_back(e);
    loss.push_back(1.0 / e + 0.02);
    val_loss.push_back(1.2 / e + 0.05);
  }
  report.add_heading("Training");
  report.add_line_chart({.title = "Loss per epoch", .x_label = "epoch", .y_label = "MSE (scaled)",
                         .series = {{.name = "loss", .x = epochs, .y = loss}, {.name = "val_loss", .x = epochs, .y = val_loss}}});
  const lstm::TimeSeries series =
      lstm::read_time_series(std::string(LSTM_SOURCE_DIR) + "/data/timeseries/AirPassengers.csv", {});
  const std::vector<double> actual = series.column(0);
  const lstm::Tensor naive = lstm::seasonal_naive_forecast(actual, {122, 123, 124, 125, 126, 127, 128, 129}, 1, 12);
  std::vector<double> forecast(actual.size(), NAN);
  for (int s = 0; s < 8; ++s) forecast[122 + s] = naive[s];
  report.add_heading("Test part");
  report.add_line_chart({.title = "Forecast against actual", .x_label = "month", .y_label = "passengers (thousands)",
                         .series = {{.name = "actual", .y = actual}, {.name = "seasonal naive", .y = forecast}}});
  report.add_table("Metrics", {"model", "RMSE", "MAE"}, {{"LSTM", "21.30", "17.02"}, {"naive", "48.10", "40.55"}});
  report.add_confusion_matrix("Confusion matrix", {"ham", "spam"}, {{610, 12}, {9, 276}});
  report.add_text_sample("Sample", "It is a truth universally acknowledged, <that> a single man\nin possession...");
  return report;
}

TEST(Report, HtmlIsSelfContained) {
  const std::string html = sample_report().html();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count_of(html, "<svg "), 3);
  EXPECT_EQ(count_of(html, "<table>"), 1);
  EXPECT_NE(html.find("&lt;that&gt; a single man\nin possession"), std::string::npos);
  for (const char* external : {"src=", "href=", "url(", "@import", "<script", "<link"})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  EXPECT_EQ(error_of([] { lstm::Report("r").add_table("t", {"a", "b"}, {{"1"}}); }),
            "report table 't': expected 2 cells in row 0, got 1");
}

class ReportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("lstm_report_test_" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  std::filesystem::path directory_;
};

TEST_F(ReportFiles, WriteIsAtomicAndLeavesNoTemporaryFile) {
  const std::filesystem::path path = directory_ / "report.html";
  const lstm::Report report = sample_report();
  report.write(path.string());
  EXPECT_EQ(file_text(path), report.html());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(directory_), std::filesystem::directory_iterator()), 1);
  EXPECT_NE(error_of([&] { report.write((directory_ / "missing" / "r.html").string()); }).find("/missing/r.html: cannot create"),
            std::string::npos);
}

// An 8-bit RGB or RGBA PNG decoded to RGB pixels: chunks, zlib-inflated IDAT, unfiltered scanlines.
struct Image {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;  // (height, width, 3)
};

uint32_t big_endian_u32(const std::string& bytes, std::size_t at) {
  return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
         (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
}

Image decode_png(const std::string& png) {
  if (png.size() < 8 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) throw std::runtime_error("not a PNG");
  Image image;
  int channels = 0;
  std::string compressed;
  for (std::size_t at = 8; at + 12 <= png.size();) {
    const uint32_t length = big_endian_u32(png, at);
    const std::string type = png.substr(at + 4, 4);
    if (type == "IHDR") {
      image.width = static_cast<int>(big_endian_u32(png, at + 8));
      image.height = static_cast<int>(big_endian_u32(png, at + 12));
      const int bit_depth = uint8_t(png[at + 16]), colour_type = uint8_t(png[at + 17]);
      if (bit_depth != 8 || (colour_type != 2 && colour_type != 6) || png[at + 20] != 0)
        throw std::runtime_error("PNG: only 8-bit RGB/RGBA, not interlaced");
      channels = colour_type == 2 ? 3 : 4;
    } else if (type == "IDAT") {
      compressed += png.substr(at + 8, length);
    }
    at += 12 + length;
  }
  const std::size_t stride = static_cast<std::size_t>(image.width) * channels;
  std::vector<unsigned char> raw((stride + 1) * image.height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(compressed.data()), compressed.size()) != Z_OK ||
      raw_size != raw.size())
    throw std::runtime_error("PNG: bad image data");
  // Each scanline: a filter byte, then bytes x reconstructed from a (left), b (above), c (above left).
  std::vector<unsigned char> pixels(stride * image.height);
  for (int y = 0; y < image.height; ++y) {
    const unsigned char filter = raw[y * (stride + 1)];
    const unsigned char* in = &raw[y * (stride + 1) + 1];
    unsigned char* out = &pixels[y * stride];
    const unsigned char* above = y > 0 ? &pixels[(y - 1) * stride] : nullptr;
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= std::size_t(channels) ? out[i - channels] : 0, b = above ? above[i] : 0,
                c = above && i >= std::size_t(channels) ? above[i - channels] : 0;
      int predictor = 0;
      if (filter == 1) predictor = a;
      if (filter == 2) predictor = b;
      if (filter == 3) predictor = (a + b) / 2;
      if (filter == 4) {
        const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[i] = static_cast<unsigned char>(in[i] + predictor);
    }
  }
  for (std::size_t p = 0; p < pixels.size(); p += channels) image.rgb.insert(image.rgb.end(), &pixels[p], &pixels[p + 3]);
  return image;
}

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (std::system(("command -v " + std::string(name) + " > /dev/null 2>&1").c_str()) == 0) return name;
  return "";
}

// Renders an HTML file in headless Chromium (1200×900) and checks that the picture is not blank:
// a good share of pixels that are not near-white, in several colours (the series' blue and
// orange, the text, the grid, the heat map), counted at 4 bits per channel, and the first chart's
// blue and orange series lines on screen.
::testing::AssertionResult renders(const std::filesystem::path& html, const std::filesystem::path& directory) {
  const std::string chromium = find_chromium();
  if (chromium.empty())
    return ::testing::AssertionFailure() << "no chromium on PATH; scripts/setup.sh installs Debian's chromium";
  const std::filesystem::path png = directory / (html.stem().string() + ".png");
  const std::string command = "timeout 120 " + chromium +
                              " --headless --disable-gpu --no-sandbox --disable-dev-shm-usage --hide-scrollbars"
                              " --user-data-dir=" + (directory / "profile").string() +
                              " --screenshot=" + png.string() + " --window-size=1200,900 file://" + html.string() +
                              " > " + (directory / "chromium.log").string() + " 2>&1";
  if (std::system(command.c_str()) != 0)
    return ::testing::AssertionFailure() << command << "\n" << file_text(directory / "chromium.log");
  const Image image = decode_png(file_text(png));
  if (image.width != 1200 || image.height != 900)
    return ::testing::AssertionFailure() << html << ": a " << image.width << "×" << image.height << " picture";
  int64_t inked = 0;
  std::set<int> colours;
  for (std::size_t p = 0; p < image.rgb.size(); p += 3) {
    const int r = image.rgb[p], g = image.rgb[p + 1], b = image.rgb[p + 2];
    if (std::min({r, g, b}) < 200) ++inked;
    colours.insert((r >> 4) << 8 | (g >> 4) << 4 | (b >> 4));
  }
  const double inked_share = static_cast<double>(inked) / (image.width * image.height);
  if (inked_share <= 0.01) return ::testing::AssertionFailure() << html << ": the screenshot is (almost) blank";
  if (colours.size() < 20u) return ::testing::AssertionFailure() << html << ": too few colours";
  const auto has_colour = [&](int r, int g, int b) {
    for (std::size_t p = 0; p < image.rgb.size(); p += 3)
      if (std::abs(image.rgb[p] - r) < 24 && std::abs(image.rgb[p + 1] - g) < 24 && std::abs(image.rgb[p + 2] - b) < 24)
        return true;
    return false;
  };
  if (!has_colour(0x1f, 0x77, 0xb4)) return ::testing::AssertionFailure() << html << ": no blue series line";
  if (!has_colour(0xff, 0x7f, 0x0e)) return ::testing::AssertionFailure() << html << ": no orange series line";
  return ::testing::AssertionSuccess();
}

TEST_F(ReportFiles, RendersInHeadlessChromium) {
  const std::filesystem::path html = directory_ / "report.html";
  sample_report().write(html.string());
  EXPECT_TRUE(renders(html, directory_));
}

// The reports `lstm train` and `lstm evaluate` write, for each task, render too.
TEST_F(ReportFiles, TheCommandsReportsRender) {
  const std::string source = LSTM_SOURCE_DIR, tool = LSTM_TOOL_PATH;
  const auto run = [&](const std::string& args) {
    const std::string command = "'" + tool + "' " + args + " > '" + (directory_ / "out.log").string() + "' 2>&1";
    return std::system(command.c_str()) == 0 ? std::string() : file_text(directory_ / "out.log");
  };
  const std::string dir = directory_.string() + "/";
  ASSERT_EQ(run("train --data " + source + "/data/timeseries/AirPassengers.csv --epochs 5 --verbose 0 --model " +
                dir + "air.safetensors --report " + dir + "series_train.html"), "");
  ASSERT_EQ(run("evaluate --data " + source + "/data/timeseries/AirPassengers.csv --model " + dir +
                "air.safetensors --report " + dir + "series_evaluate.html"), "");
  ASSERT_EQ(run("train --task classify --data " + source + "/tests/data/spam_shortest30.tsv --text-column "
                "subject,body --label-column label --epochs 2 --verbose 0 --model " + dir +
                "spam.safetensors --report " + dir + "classify_train.html"), "");
  ASSERT_EQ(run("train --task text --data " + source + "/tests/data/austen_first_lines.txt --seq-length 32 "
                "--hidden 32 --epochs 2 --verbose 0 --model " + dir + "text.safetensors --report " + dir +
                "text_train.html"), "");
  for (const char* html : {"series_train.html", "series_evaluate.html", "classify_train.html", "text_train.html"})
    EXPECT_TRUE(renders(directory_ / html, directory_)) << html;
}

}  // namespace
