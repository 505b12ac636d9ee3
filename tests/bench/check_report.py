#!/usr/bin/python3
"""Checks what `bench report` writes, as a reader would meet it.

  check_report.py links   --bench BIN --config-dir DIR RESULT...   every link of every page resolves
  check_report.py browser --bench BIN RESULT...                    every chart renders in headless Chromium

links: relative links must name a file the report wrote (and an anchor, if any, a heading of it); absolute links
must be https URLs of the talk registry (configs/talks.toml): with no internet here, a URL is checked against the
registry it was generated from rather than fetched.

browser: opens each HTML page in Debian's chromium (headless), lets its scripts run, and reads the verdict the
page records in <pre id="report-status">: every chart drew marks, nothing was thrown or logged as an error. Then
plants a broken chart in a copy of one page and requires the check to catch it, so the check itself cannot pass
vacuously. Exit 77 (CTest: skipped) when chromium is missing, unless TALKLAB_REQUIRE_BROWSER=1.
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


def page_verdict(chromium, page):
    """The JSON a page wrote into #report-status once its charts settled (None if it never did)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
             "--virtual-time-budget=30000", "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="report-status">([^<]*)</pre>', done.stdout)
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


def check_browser(out):
    chromium = chromium_binary()
    if chromium is None:
        if os.environ.get("TALKLAB_REQUIRE_BROWSER") == "1":
            sys.exit("chromium not found and TALKLAB_REQUIRE_BROWSER=1: install Debian's chromium (scripts/setup.sh)")
        print("chromium not found: skipping (scripts/setup.sh installs it)")
        sys.exit(SKIP)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["links", "browser"])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--config-dir", default=str(Path(__file__).resolve().parents[2] / "configs"))
    ap.add_argument("--keep", help="write the report here and keep it (default: a temporary folder)")
    ap.add_argument("results", nargs="+")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = write_report(a.bench, a.results, Path(a.keep or tmp) / "report", a.config_dir)
        if a.mode == "links":
            problems, checked, pages = check_links(out, a.config_dir)
            summary = f"{checked} links in {pages} pages"
        else:
            problems, charts, pages = check_browser(out)
            summary = f"{charts} charts in {pages} pages"
    for p in problems:
        print(f"FAIL {p}")
    print(f"{summary}: {'ok' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
