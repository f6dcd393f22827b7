// The strict CSV/TSV reader: one pass over the text that keeps the line and column of every field.
#include <filesystem>
#include <string>

#include "data/messages.h"
#include "io/file_util.h"
#include "lstm/data.h"

namespace lstm {

using data_detail::ascii_lower;
using data_detail::data_error;
using data_detail::joined;
using data_detail::in_quotes;

namespace {

// Walks the text field by field, tracking the line and the column (in bytes, from 1) of the
// current position.
class TableParser {
 public:
  TableParser(std::string_view text, const std::string& source, Delimiter delimiter)
      : text_(text), source_(source), separator_(delimiter == Delimiter::comma ? ',' : '\t'),
        quoting_(delimiter == Delimiter::comma) {
    constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";
    if (text_.starts_with(byte_order_mark)) text_.remove_prefix(byte_order_mark.size());
  }

  Table parse() {
    Table table;
    table.source = source_;
    if (at_end_of_content())
      throw data_error(source_, 1, 1, "expected a header row, found an empty file");
    for (Cell& name : read_record()) {
      if (name.text.empty())
        throw data_error(source_, name.line, name.column, "expected a column name, found an empty field");
      for (std::size_t i = 0; i < table.columns.size(); ++i)
        if (table.columns[i] == name.text)
          throw data_error(source_, name.line, name.column,
                           "expected distinct column names, found " + in_quotes(name.text) +
                               " again (column " + std::to_string(i + 1) + ")");
      table.columns.push_back(std::move(name.text));
    }
    while (!at_end_of_content()) {
      const int64_t record_line = line_;
      std::vector<Cell> row = read_record();
      if (row.size() != table.columns.size()) {
        // Too many fields: point at the first extra one; too few: at the end of the record.
        const bool too_many = row.size() > table.columns.size();
        const int64_t line = too_many ? row[table.columns.size()].line : last_record_end_line_;
        const int64_t column = too_many ? row[table.columns.size()].column : last_record_end_column_;
        throw data_error(source_, line, column,
                         "expected " + std::to_string(table.columns.size()) + " fields (" +
                             joined(table.columns) + "), found " + std::to_string(row.size()) +
                             " in the row that starts on line " + std::to_string(record_line));
      }
      table.rows.push_back(std::move(row));
    }
    if (table.rows.empty())
      throw data_error(source_, line_, column_, "expected at least one data row after the header");
    return table;
  }

 private:
  // True at the end of the text or when only line ends remain (trailing blank lines).
  bool at_end_of_content() const {
    return text_.find_first_not_of("\r\n", position_) == std::string_view::npos;
  }

  bool at_end() const { return position_ >= text_.size(); }
  char peek() const { return text_[position_]; }

  void advance() {
    if (peek() == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++position_;
  }

  // At a line end (LF or CRLF)? A CR not followed by LF is an error.
  bool at_line_end() const {
    if (at_end()) return false;
    if (peek() == '\n') return true;
    if (peek() != '\r') return false;
    if (position_ + 1 < text_.size() && text_[position_ + 1] == '\n') return true;
    throw data_error(source_, line_, column_, "expected a line end (LF or CRLF), found a lone CR");
  }

  void skip_line_end() {
    if (peek() == '\r') advance();
    advance();
  }

  // One record: fields up to the line end (or the end of the text), which is consumed.
  std::vector<Cell> read_record() {
    std::vector<Cell> fields;
    for (;;) {
      fields.push_back(read_field());
      if (!at_end() && peek() == separator_) {
        advance();
        continue;
      }
      last_record_end_line_ = line_;
      last_record_end_column_ = column_;
      if (!at_end()) skip_line_end();
      return fields;
    }
  }

  Cell read_field() {
    Cell cell{.text = {}, .line = line_, .column = column_};
    if (quoting_ && !at_end() && peek() == '"') {
      read_quoted(cell);
      return cell;
    }
    while (!at_end() && peek() != separator_ && !at_line_end()) {
      if (quoting_ && peek() == '"')
        throw data_error(source_, line_, column_,
                         "expected no '\"' inside an unquoted field (quote the whole field and "
                         "double the quotes inside it)");
      cell.text += peek();
      advance();
    }
    return cell;
  }

  // "..." with "" for a quote; may span lines; must be followed by a separator or a line end.
  void read_quoted(Cell& cell) {
    advance();  // the opening quote
    for (;;) {
      if (at_end())
        throw data_error(source_, cell.line, cell.column,
                         "expected a closing '\"' for the quoted field that starts here, found "
                         "the end of the file");
      if (peek() == '"') {
        advance();
        if (!at_end() && peek() == '"') {
          cell.text += '"';
          advance();
          continue;
        }
        if (!at_end() && peek() != separator_ && !at_line_end())
          throw data_error(source_, line_, column_,
                           std::string("expected '") + separator_ + "' or a line end after the closing '\"', found " +
                               in_quotes(std::string(1, peek())));
        return;
      }
      cell.text += peek();
      advance();
    }
  }

  std::string_view text_;
  const std::string& source_;
  char separator_;
  bool quoting_;
  std::size_t position_ = 0;
  int64_t line_ = 1;
  int64_t column_ = 1;
  int64_t last_record_end_line_ = 1;
  int64_t last_record_end_column_ = 1;
};

}  // namespace

int64_t Table::column_index(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int64_t>(i);
  throw Error(source + ": no column " + in_quotes(name) + "; the columns are: " + joined(columns));
}

Delimiter delimiter_for_path(const std::string& path) {
  const std::string extension = ascii_lower(std::filesystem::path(path).extension().string());
  return extension == ".tsv" || extension == ".tab" ? Delimiter::tab : Delimiter::comma;
}

Table parse_table(std::string_view text, const std::string& source, Delimiter delimiter) {
  return TableParser(text, source, delimiter).parse();
}

Table read_table(const std::string& path) {
  const std::string text = io_detail::read_whole_file(path);
  return parse_table(text, path, delimiter_for_path(path));
}

}  // namespace lstm
