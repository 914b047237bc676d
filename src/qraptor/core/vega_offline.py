"""An HTML template for `dvc plots show` that works offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so on a machine without
internet the plots page is blank. This template inlines the same libraries (bundled by the
vl-convert package, no download) and keeps DVC's `{plot_divs}` placeholder. `.dvc/config`
points `plots.html_template` at the file; the `plots_template` DVC stage writes it.
"""

from __future__ import annotations

from pathlib import Path

from qraptor.core.atomic import write_text_atomic

VEGA_LITE_VERSION = "5.21"  # DVC's built-in plot templates are vega-lite v5 specs

_PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>qraptor: DVC plots</title>
    <script type="text/javascript">
(function () {{
{bundle}
}})();
    </script>
    <style>
        body {{ font-family: sans-serif; margin: 1.5em; }}
        table {{ border-spacing: 15px; }}
        img {{ max-width: 100%; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def offline_template() -> str:
    """The template text: vega, vega-lite and vega-embed inlined, DVC placeholders kept."""
    import vl_convert

    # vl-convert's stub makes `snippet` required; the function defaults it (snippet=None)
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)  # type: ignore[call-arg]
    if "{plot_divs}" in bundle:  # would confuse DVC's placeholder replacement
        raise RuntimeError("the vega bundle contains DVC's placeholder text")
    return _PAGE.format(bundle=bundle, refresh_tag="{refresh_tag}")


def write_offline_template(path: str | Path) -> Path:
    """Write the template to `path` atomically and return it."""
    write_text_atomic(path, offline_template())
    return Path(path)
