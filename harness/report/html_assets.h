// The style sheet and the chart script every HTML page of the report carries inline, so a page is one file plus
// the shared bundle in vendor/.
#pragma once

namespace talklab::report {

constexpr const char* kStyle = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1rem auto;max-width:1200px;
padding:0 1rem;color:#1b1b1b;line-height:1.45}table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.85rem}
th,td{border:1px solid #d0d7de;padding:0.2rem 0.5rem;text-align:left;vertical-align:top}th{background:#f3f5f7}
tbody tr:nth-child(even){background:#fafbfc}.chart{margin:0.5rem 0 2rem;overflow-x:auto}nav{font-size:0.9rem;margin-bottom:0.5rem}
footer{margin-top:3rem;font-size:0.75rem;color:#666}#report-status{white-space:pre-wrap}h1{font-size:1.6rem}
.caption{font-size:0.85rem;color:#444}table.headline td{white-space:nowrap}table.headline{margin-bottom:0.75rem}h3{margin:0.9rem 0 0.4rem}
h2{margin:1.2rem 0 0.6rem}
caption{text-align:left;padding:0 0 0.4rem})";

// The page records its own verdict: how many charts rendered (an SVG with marks in it) and every error thrown or
// logged, so a headless browser can check it (tests/report/check_report.py).
constexpr const char* kChartScript = R"(
const status = {expected: Object.keys(TALKLAB_CHARTS).length, rendered: 0, errors: []};
window.addEventListener('error', (e) => status.errors.push(String(e.message || e)));
window.addEventListener('unhandledrejection', (e) => status.errors.push(String(e.reason)));
const consoleError = console.error.bind(console);
console.error = (...args) => { status.errors.push(args.map(String).join(' ')); consoleError(...args); };
// Where the headline's table and chart ended up (page coordinates, CSS pixels) in this window.
function headlinePlaces() {
  return Array.from(document.querySelectorAll('.headline')).map((e) => {
    const r = e.getBoundingClientRect();
    return {element: e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''), top: r.top + window.scrollY,
            bottom: r.bottom + window.scrollY};
  });
}
function report() {
  status.viewport = {width: window.innerWidth, height: window.innerHeight};
  status.headline = headlinePlaces();
  document.body.dataset.chartsExpected = status.expected;
  document.body.dataset.chartsRendered = status.rendered;
  document.getElementById('report-status').textContent = JSON.stringify(status);
}
Promise.allSettled(Object.entries(TALKLAB_CHARTS).map(([id, spec]) =>
  vegaEmbed('#' + id, spec, {actions: false, renderer: 'svg'}).then(() => {
    const svg = document.querySelector('#' + id + ' svg');
    if (svg && svg.querySelectorAll('.role-mark > *').length > 0) status.rendered += 1;
    else status.errors.push(id + ': no marks were drawn');
  }))).then((results) => {
  results.forEach((r) => { if (r.status === 'rejected') status.errors.push(String(r.reason)); });
  report();
});
)";


}  // namespace talklab::report
