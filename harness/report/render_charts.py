"""bench report's chart renderer: what needs vl-convert-python (requirements.txt), which bench report runs with
the interpreter CMake found torch in (TALKLAB_PYTHON, or bench report --python).

    python render_charts.py MANIFEST

MANIFEST is a JSON file: {"bundle": PATH, "svgs": {PATH: VEGA_LITE_SPEC, ...}}. It writes
- PATH of "bundle": Vega, Vega-Lite and Vega-Embed in one browser script (vl_convert.javascript_bundle, whose
  default snippet puts vegaEmbed, vegaLite and vega on window), and beside it vl-convert's license
  (LICENSE-vl-convert), which names the bundled libraries' licenses;
- each PATH of "svgs": the spec drawn as a static SVG (vl_convert.vegalite_to_svg), for the Markdown pages.

Exit 0 when everything was written; 1 with one line naming the chart (its file) and vl-convert's message.
"""

import importlib.metadata
import json
import pathlib
import sys


def license_text() -> str:
    files = importlib.metadata.files("vl-convert-python") or []
    for f in files:
        if f.name.startswith("LICENSE"):
            return f.read_text()
    return ""


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: render_charts.py MANIFEST", file=sys.stderr)
        return 2
    try:
        import vl_convert
    except ImportError as e:
        print(f"render_charts: {sys.executable} cannot import vl_convert ({e}): run scripts/setup.sh", file=sys.stderr)
        return 1
    manifest = json.loads(pathlib.Path(sys.argv[1]).read_text())
    bundle = pathlib.Path(manifest["bundle"])
    bundle.write_text(vl_convert.javascript_bundle())
    (bundle.parent / "LICENSE-vl-convert").write_text(license_text())
    for path, spec in manifest["svgs"].items():
        try:
            svg = vl_convert.vegalite_to_svg(spec)
        except Exception as e:  # vl-convert raises ValueError for a spec it cannot draw
            print(f"render_charts: {path}: {e}", file=sys.stderr)
            return 1
        pathlib.Path(path).write_text(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
