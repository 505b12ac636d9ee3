// A page rendered as Markdown (what GitHub shows): tables as pipe tables, charts as their static SVG pictures.
#pragma once

#include <string>

#include "harness/report/page.h"

namespace talklab::report {

std::string md_cell(const std::string& s);  // a table cell's text with pipes escaped and newlines flattened
std::string to_markdown(const Table& t);
std::string render_markdown(const Page& p);

}  // namespace talklab::report
