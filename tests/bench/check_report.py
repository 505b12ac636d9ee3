#!/usr/bin/python3
"""Checks what `bench report` writes, as a reader would meet it.

  check_report.py links   --bench BIN --config-dir DIR RESULT...   every link of every page resolves
  check_report.py browser --bench BIN RESULT...                    every chart renders in headless Chromium
  check_report.py first-screen --bench BIN [--artifacts DIR] RESULT...
                                                                   each talk page's headline is in its first screen

links: relative links must name a file the report wrote (and an anchor, if any, a heading of it); absolute links
must be https URLs of the talk registry (configs/talks.toml): with no internet here, a URL is checked against the
registry it was generated from rather than fetched.

browser: opens each HTML page in Debian's chromium (headless), lets its scripts run, and reads the verdict the
page records in <pre id="report-status">: every chart drew marks, nothing was thrown or logged as an error. Then
plants a broken chart in a copy of one page and requires the check to catch it, so the check itself cannot pass
vacuously. Exit 77 (CTest: skipped) when chromium is missing, unless TALKLAB_REQUIRE_BROWSER=1.

first-screen: opens each talk page with a headline in a 1366x768 window (a typical laptop) and reads where the page
recorded its headline table and chart (#report-status, "headline": page coordinates): the table must end within
the first screen and the chart show at least its first 200 pixels there. A screenshot of each page's first screen is
left in --artifacts. Then pushes the headline of a copy of one page below a screen of text and requires the check to
catch it. Skips like browser.
"""
import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

SKIP = 77


def write_report(bench, results, out, config_dir=None):
    cmd = [bench, "report", *results, "--out", str(out)]
    if config_dir:
        cmd += ["--config-dir", config_dir]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench report failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return out


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def check_links(out, config_dir):
    talks = tomllib.loads((Path(config_dir) / "talks.toml").read_text())["talks"]
    registry_urls = {t["url"] for t in talks.values()}
    problems, checked = [], 0
    pages = sorted(out.glob("*.md")) + sorted(out.glob("*.html"))
    for page in pages:
        text = page.read_text()
        if page.suffix == ".md":
            links = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)
        else:
            links = [html.unescape(x) for x in re.findall(r'(?:href|src)="([^"]+)"', text)]
        for link in links:
            checked += 1
            if re.match(r"^[a-z]+://", link):
                if link not in registry_urls:
                    problems.append(f"{page.name}: {link}: not a talk URL of the registry")
                elif not link.startswith("https://"):
                    problems.append(f"{page.name}: {link}: not https")
                continue
            target, _, anchor = link.partition("#")
            path = (page.parent / target) if target else page
            if not path.is_file():
                problems.append(f"{page.name}: {link}: no such file in the report")
            elif anchor and path.suffix == ".md":
                anchors = {slug(h) for h in re.findall(r"^#+ (.*)$", path.read_text(), re.M)}
                if anchor not in anchors:
                    problems.append(f"{page.name}: {link}: no heading '{anchor}' in {path.name}")
    if checked == 0:
        problems.append("no links at all: the report is empty")
    return problems, checked, len(pages)


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def headless(chromium, page, *options):
    """Runs headless chromium on the page with its scripts given time to settle; returns its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
             "--hide-scrollbars", "--virtual-time-budget=30000", *options, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180)
    return done.stdout


def page_verdict(chromium, page, *options):
    """The JSON a page wrote into #report-status once its charts settled (None if it never did)."""
    stdout = headless(chromium, page, *options, "--dump-dom")
    m = re.search(r'<pre id="report-status">([^<]*)</pre>', stdout)
    if not m:
        return None
    try:
        return json.loads(html.unescape(m.group(1)))
    except json.JSONDecodeError:
        return None


def check_page(chromium, page):
    v = page_verdict(chromium, page)
    if v is None:
        return [f"{page.name}: the page never reported (its script did not run to the end)"], 0
    problems = [f"{page.name}: {e}" for e in v["errors"]]
    if v["rendered"] != v["expected"]:
        problems.append(f"{page.name}: {v['rendered']} of {v['expected']} charts rendered")
    return problems, v["expected"]


def chromium_or_skip():
    chromium = chromium_binary()
    if chromium is None:
        if os.environ.get("TALKLAB_REQUIRE_BROWSER") == "1":
            sys.exit("chromium not found and TALKLAB_REQUIRE_BROWSER=1: install Debian's chromium (scripts/setup.sh)")
        print("chromium not found: skipping (scripts/setup.sh installs it)")
        sys.exit(SKIP)
    return chromium


def check_browser(out):
    chromium = chromium_or_skip()
    problems, charts = [], 0
    pages = sorted(out.glob("*.html"))
    for page in pages:
        p, n = check_page(chromium, page)
        problems += p
        charts += n
    if charts == 0:
        problems.append("no page has a chart: nothing was checked")
    # The check must catch a broken chart: an unknown mark type in a copy of the page with the most charts.
    victim = max(pages, key=lambda p: p.read_text().count('class="chart"'))
    broken = victim.with_name("planted-broken-chart.html")
    text = victim.read_text()
    planted = re.sub(r'"mark":\{"point":true,"type":"line"\}|"mark":\{"filled":true,"type":"point"\}', '"mark":"no-such-mark"',
                     text, count=1)
    if planted == text:
        problems.append(f"{victim.name}: found no chart mark to break for the self-check")
    else:
        broken.write_text(planted)
        p, _ = check_page(chromium, broken)
        broken.unlink()
        if not p:
            problems.append(f"self-check: a chart with an unknown mark in {victim.name} went unnoticed")
    return problems, charts, len(pages)


WIDTH, HEIGHT = 1366, 768
CHART_SHOWN = 200  # pixels of the headline chart that must be in the first screen


def first_screen_problems(chromium, page):
    v = page_verdict(chromium, page, f"--window-size={WIDTH},{HEIGHT}")
    if v is None:
        return [f"{page.name}: the page never reported (its script did not run to the end)"]
    places = v.get("headline", [])
    tables = [p for p in places if p["element"].startswith("table")]
    charts = [p for p in places if p["element"].startswith("div")]
    screen = v["viewport"]["height"]
    problems = []
    if not tables:
        problems.append(f"{page.name}: no headline table")
    elif tables[0]["bottom"] > screen:
        problems.append(f"{page.name}: the headline table ends at {tables[0]['bottom']:.0f}px, below the first screen ({screen}px)")
    if not charts:
        problems.append(f"{page.name}: no headline chart")
    elif charts[0]["top"] + min(CHART_SHOWN, charts[0]["bottom"] - charts[0]["top"]) > screen:
        problems.append(f"{page.name}: the headline chart starts at {charts[0]['top']:.0f}px: less than {CHART_SHOWN}px of it "
                        f"in the first screen ({screen}px)")
    return problems


def check_first_screen(out, artifacts):
    chromium = chromium_or_skip()
    pages = [p for p in sorted(out.glob("*.html")) if 'class="headline"' in p.read_text()]
    problems = []
    if not pages:
        problems.append("no page has a headline: nothing was checked")
    for page in pages:
        problems += first_screen_problems(chromium, page)
        if artifacts:
            Path(artifacts).mkdir(parents=True, exist_ok=True)
            shot = Path(artifacts) / f"{page.stem}-{WIDTH}x{HEIGHT}.png"
            headless(chromium, page, f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}")
            if not shot.is_file():
                problems.append(f"{page.name}: no screenshot was written to {shot}")
    if pages:
        # The check must catch a headline pushed below the first screen.
        victim = pages[0]
        pushed = victim.with_name("planted-pushed-down.html")
        text = victim.read_text()
        planted = text.replace("<h2>Headline", f'<div style="height:{HEIGHT}px">filler</div>\n<h2>Headline', 1)
        if planted == text:
            problems.append(f"{victim.name}: found no headline heading to push down for the self-check")
        else:
            pushed.write_text(planted)
            caught = first_screen_problems(chromium, pushed)
            pushed.unlink()
            if not caught:
                problems.append(f"self-check: a headline pushed below the first screen of {victim.name} went unnoticed")
    return problems, len(pages)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["links", "browser", "first-screen"])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--config-dir", default=str(Path(__file__).resolve().parents[2] / "configs"))
    ap.add_argument("--keep", help="write the report here and keep it (default: a temporary folder)")
    ap.add_argument("--artifacts", help="first-screen: folder for the screenshots")
    ap.add_argument("results", nargs="+")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = write_report(a.bench, a.results, Path(a.keep or tmp) / "report", a.config_dir)
        if a.mode == "links":
            problems, checked, pages = check_links(out, a.config_dir)
            summary = f"{checked} links in {pages} pages"
        elif a.mode == "browser":
            problems, charts, pages = check_browser(out)
            summary = f"{charts} charts in {pages} pages"
        else:
            problems, pages = check_first_screen(out, a.artifacts)
            summary = f"headline in the first {WIDTH}x{HEIGHT} screen of {pages} pages"
    for p in problems:
        print(f"FAIL {p}")
    print(f"{summary}: {'ok' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
