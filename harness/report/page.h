// A report page as blocks (headings, prose, lists, tables, charts), built once from the result files and rendered
// twice: Markdown (markdown.h) and HTML (html.h). Tables are cells, charts Vega-Lite specifications with their data
// inlined, so the two formats cannot disagree on a number.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace talklab::report {

// A table cell: text, optionally a link (a page name without extension, or an absolute URL).
struct Cell {
  std::string text, href;
  Cell(std::string t, std::string h = {}) : text(std::move(t)), href(std::move(h)) {}
  Cell(const char* t) : text(t) {}
};

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
  std::string fold;  // HTML: the table folded under <details> with this summary; empty = shown
  std::string caption;  // a line above the table (HTML: its <caption>, no paragraph's margins); empty = none
};

// Links: "page" targets get the format's extension; absolute URLs are left as they are.
std::string link_target(const std::string& target, const char* ext);

// A page as blocks, each rendered to both formats: prose (Markdown source with its HTML twin), tables and charts.
struct Chart {
  std::string id, title, caption;
  nlohmann::json spec;
};

struct Block {
  enum Kind { heading, paragraph, list, table, chart } kind = paragraph;
  int level = 2;
  std::string text;                     // heading / paragraph: plain text
  std::vector<std::pair<std::string, std::string>> links;  // paragraph: (label, target) appended after text
  std::vector<std::string> items;       // list: plain text items
  Table tab;
  Chart ch;
  bool headline = false;  // table, chart: part of the page's headline (HTML: class="headline", which the page's
                          // status reports the position of, so a browser test can hold it to the first screen)
};

struct Page {
  std::string file;  // without extension
  std::string title;
  std::vector<Block> blocks;
  Block& add(Block::Kind kind) {
    blocks.emplace_back();
    blocks.back().kind = kind;
    return blocks.back();
  }
  void heading(int level, std::string s) {
    Block& b = add(Block::heading);
    b.level = level;
    b.text = std::move(s);
  }
  void paragraph(std::string s, std::vector<std::pair<std::string, std::string>> links = {}) {
    Block& b = add(Block::paragraph);
    b.text = std::move(s);
    b.links = std::move(links);
  }
  void list(std::vector<std::string> items) { add(Block::list).items = std::move(items); }
  void table(Table t) { add(Block::table).tab = std::move(t); }
  void chart(Chart c) { add(Block::chart).ch = std::move(c); }
};

// The static picture of a chart, beside the Markdown page that shows it.
std::string svg_file(const Page& p, const Chart& c);

}  // namespace talklab::report
