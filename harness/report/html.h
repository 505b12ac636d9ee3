// A page rendered as HTML: the same blocks as the Markdown page, with the charts drawn live by Vega-Embed from the
// bundle in vendor/ (html_assets.h holds the page's style and its chart script).
#pragma once

#include <string>

#include "harness/report/page.h"

namespace talklab::report {

std::string html_escape(const std::string& s);
std::string to_html(const Table& t, const std::string& css_class = "");
std::string render_html(const Page& p);

}  // namespace talklab::report
