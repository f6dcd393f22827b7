// The strict CSV/TSV reader: quoting, line ends, the byte order mark, and every error with its
// line and column.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lstm/data.h"
#include "test_util.h"

namespace {

using lstm::Delimiter;
using lstm::parse_table;
using lstm::testing::error_of;

std::string csv_error(const std::string& text) {
  return error_of([&] { parse_table(text, "t.csv", Delimiter::comma); });
}

TEST(DataTable, ReadsHeaderAndRowsWithPositions) {
  const lstm::Table table = parse_table("year,month,value\n1949,1,112\n1949,2,118\n", "t.csv", Delimiter::comma);
  EXPECT_EQ(table.source, "t.csv");
  EXPECT_EQ(table.columns, (std::vector<std::string>{"year", "month", "value"}));
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[1][2].text, "118");
  EXPECT_EQ(table.rows[1][2].line, 3);
  EXPECT_EQ(table.rows[1][2].column, 8);
  EXPECT_EQ(table.column_index("value"), 2);
}

TEST(DataTable, QuotedFieldsWithSeparatorsQuotesAndLineBreaks) {
  const lstm::Table table =
      parse_table("label,text\nham,\"a, b\"\nspam,\"say \"\"hi\"\"\nnow\"\nham,\"\"\n", "t.csv", Delimiter::comma);
  ASSERT_EQ(table.rows.size(), 3u);
  EXPECT_EQ(table.rows[0][1].text, "a, b");
  EXPECT_EQ(table.rows[1][1].text, "say \"hi\"\nnow");
  EXPECT_EQ(table.rows[1][1].line, 3);
  EXPECT_EQ(table.rows[1][1].column, 6);
  EXPECT_EQ(table.rows[2][0].line, 5);  // after a field spanning lines 3 and 4
  EXPECT_EQ(table.rows[2][1].text, "");
}

TEST(DataTable, CrlfBomAndTrailingBlankLines) {
  const lstm::Table table = parse_table("\xEF\xBB\xBFx,y\r\n1,2\r\n3,4\r\n\r\n\n", "t.csv", Delimiter::comma);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"x", "y"}));
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[1][1].text, "4");
  EXPECT_EQ(table.rows[1][1].column, 3);
  // No line end after the last row is fine too.
  EXPECT_EQ(parse_table("x\n5", "t.csv", Delimiter::comma).rows[0][0].text, "5");
}

TEST(DataTable, TabSeparatedHasNoQuoting) {
  const lstm::Table table = parse_table("label\tbody\nham\t\"Adam\" wrote, \"x\n", "t.tsv", Delimiter::tab);
  EXPECT_EQ(table.rows[0][1].text, "\"Adam\" wrote, \"x");
  EXPECT_EQ(lstm::delimiter_for_path("data/x.TSV"), Delimiter::tab);
  EXPECT_EQ(lstm::delimiter_for_path("data/x.csv"), Delimiter::comma);
  EXPECT_EQ(lstm::delimiter_for_path("data/x"), Delimiter::comma);
}

TEST(DataTable, EmptyFile) {
  EXPECT_EQ(csv_error(""), "t.csv:1:1: expected a header row, found an empty file");
  EXPECT_EQ(csv_error("\n\r\n"), "t.csv:1:1: expected a header row, found an empty file");
  EXPECT_EQ(csv_error("\xEF\xBB\xBF"), "t.csv:1:1: expected a header row, found an empty file");
}

TEST(DataTable, HeaderWithoutRows) {
  EXPECT_EQ(csv_error("a,b\n"), "t.csv:2:1: expected at least one data row after the header");
}

TEST(DataTable, RaggedRows) {
  EXPECT_EQ(csv_error("a,b,c\n1,2,3\n4,5\n"),
            "t.csv:3:4: expected 3 fields (a, b, c), found 2 in the row that starts on line 3");
  EXPECT_EQ(csv_error("a,b\n1,2,3\n"), "t.csv:2:5: expected 2 fields (a, b), found 3 in the row that starts on line 2");
  // A blank line inside the data is a row of one empty field.
  EXPECT_EQ(csv_error("a,b\n1,2\n\n3,4\n"),
            "t.csv:3:1: expected 2 fields (a, b), found 1 in the row that starts on line 3");
}

TEST(DataTable, BadQuoting) {
  EXPECT_EQ(csv_error("a,b\n1,\"open\n"),
            "t.csv:2:3: expected a closing '\"' for the quoted field that starts here, found the end of the file");
  EXPECT_EQ(csv_error("a,b\n1,\"x\"y\n"), "t.csv:2:6: expected ',' or a line end after the closing '\"', found 'y'");
  EXPECT_EQ(csv_error("a,b\n1,x\"y\n"),
            "t.csv:2:4: expected no '\"' inside an unquoted field (quote the whole field and double the quotes inside it)");
}

TEST(DataTable, LoneCarriageReturn) {
  EXPECT_EQ(csv_error("a,b\r1,2\n"), "t.csv:1:4: expected a line end (LF or CRLF), found a lone CR");
}

TEST(DataTable, BadHeader) {
  EXPECT_EQ(csv_error("a,,c\n1,2,3\n"), "t.csv:1:3: expected a column name, found an empty field");
  EXPECT_EQ(csv_error("a,b,a\n1,2,3\n"), "t.csv:1:5: expected distinct column names, found 'a' again (column 1)");
}

TEST(DataTable, MissingColumnListsTheColumns) {
  const lstm::Table table = parse_table("year,month,co2\n1959,1,315.42\n", "co2.csv", Delimiter::comma);
  EXPECT_EQ(error_of([&] { table.column_index("CO2"); }),
            "co2.csv: no column 'CO2'; the columns are: year, month, co2");
}

TEST(DataTable, ReadsFilesAndNamesUnreadableOnes) {
  const lstm::Table table = lstm::read_table(std::string(LSTM_SOURCE_DIR) + "/tests/data/spam_shortest30.tsv");
  EXPECT_EQ(table.columns, (std::vector<std::string>{"label", "group", "file", "subject", "body"}));
  EXPECT_EQ(table.rows.size(), 30u);
  EXPECT_EQ(error_of([] { lstm::read_table("/nonexistent/x.csv"); }),
            "/nonexistent/x.csv: cannot open: No such file or directory");
}

TEST(DataTable, ReadsEveryBundledTable) {
  for (const char* name : {"timeseries/AirPassengers.csv", "timeseries/co2.csv", "timeseries/sunspot.month.csv",
                           "timeseries/EuStockMarkets.csv", "labeled/spam_assassin.tsv"}) {
    SCOPED_TRACE(name);
    const lstm::Table table = lstm::read_table(std::string(LSTM_SOURCE_DIR) + "/data/" + name);
    EXPECT_GT(table.rows.size(), 100u);
  }
}

}  // namespace
