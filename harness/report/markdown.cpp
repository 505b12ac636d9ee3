// A page rendered as Markdown: see markdown.h.
#include "harness/report/markdown.h"

#include <fmt/format.h>

namespace talklab::report {

std::string md_cell(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n') out += ' ';
    else out += ch;
  }
  return out.empty() ? " " : out;
}


std::string to_markdown(const Table& t) {
  std::string out = t.caption.empty() ? "|" : t.caption + "\n\n|";
  for (const auto& h : t.header) out += fmt::format(" {} |", md_cell(h));
  out += "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    for (const Cell& cell : row) {
      out += cell.href.empty() ? fmt::format(" {} |", md_cell(cell.text))
                               : fmt::format(" [{}]({}) |", md_cell(cell.text), link_target(cell.href, ".md"));
    }
    out += "\n";
  }
  return out;
}


std::string render_markdown(const Page& p) {
  std::string out = "# " + p.title + "\n\n";
  bool chart_note = false;
  for (const Block& b : p.blocks) {
    switch (b.kind) {
      case Block::heading: out += std::string(size_t(b.level), '#') + " " + b.text + "\n\n"; break;
      case Block::paragraph: {
        out += b.text;
        for (size_t i = 0; i < b.links.size(); ++i) {
          out += fmt::format("{}[{}]({})", i == 0 && b.text.empty() ? "" : (i == 0 ? " " : ", "), b.links[i].first,
                             link_target(b.links[i].second, ".md"));
        }
        out += "\n\n";
        break;
      }
      case Block::list:
        for (const auto& item : b.items) out += "- " + item + "\n";
        out += "\n";
        break;
      case Block::table: out += to_markdown(b.tab) + "\n"; break;
      case Block::chart:
        if (!chart_note) {
          out += fmt::format("Static pictures; [{0}.html]({0}.html) draws the same charts with tooltips.\n\n", p.file);
          chart_note = true;
        }
        // The caption under the picture, so that the chart itself comes right after its title.
        out += fmt::format("### {}\n\n", b.ch.title);
        out += fmt::format("![{}]({})\n\n", md_cell(b.ch.title), svg_file(p, b.ch));
        if (!b.ch.caption.empty()) out += b.ch.caption + "\n\n";
        break;
    }
  }
  return out;
}

}  // namespace talklab::report
