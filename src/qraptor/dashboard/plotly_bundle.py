"""Plotly.js for the dashboard's pages: the cartesian partial bundle when it is installed,
else plotly's full one.

Every graph of the dashboard is a scatter trace on cartesian axes, which plotly.js's
`cartesian` partial bundle draws (scatter, bar, histogram, heatmap, box, ...) in 1.4 MB of
JavaScript instead of the full bundle's 4.8 MB: the browser parses and evaluates ~3.4 MB less
before the first graph shows (benchmarks/dashboard.py measures the pages). PyPI has no such
file, so `make setup` fetches it from the npm registry once (`install`, through `npm
pack`) into the virtualenv, at the
plotly.js version that plotly.py ships (figures are made for that version). Without npm, or
offline, the dashboard serves the full bundle that plotly.py ships, as before.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "plotly.js-cartesian-dist-min"
CARTESIAN = Path(sys.prefix) / "share" / "qraptor" / "plotly-cartesian.min.js"
URL_PATH = "/_qraptor/plotly.min.js"  # where the app serves the chosen bundle
_VERSION = re.compile(rb"plotly\.js (?:\([^)]*\) )?v(\d+\.\d+\.\d+)")  # "(cartesian - minified) "


def full_bundle() -> Path:
    """plotly.py's own copy of the full plotly.js bundle."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def bundle_version(path: Path) -> str | None:
    """The plotly.js version a bundle names in its banner (its first bytes)."""
    with open(path, "rb") as handle:
        found = _VERSION.search(handle.read(512))
    return found.group(1).decode() if found else None


def bundle_file() -> Path:
    """The cartesian bundle when installed at plotly.py's plotly.js version, else the full one."""
    full = full_bundle()
    if CARTESIAN.is_file() and bundle_version(CARTESIAN) == bundle_version(full):
        return CARTESIAN
    return full


def install(target: Path = CARTESIAN) -> str:
    """Fetch the cartesian bundle of plotly.py's plotly.js version with `npm pack` and put
    it at `target` (atomically). What happened, as a line for the user."""
    version = bundle_version(full_bundle())
    if version is None:
        return "plotly.js version not found in plotly.py's bundle: the full bundle is served"
    if target.is_file() and bundle_version(target) == version:
        return f"{PACKAGE} {version} already installed"
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found: the dashboard serves plotly's full bundle (4.8 MB)"
    with tempfile.TemporaryDirectory(prefix="qraptor-plotly-") as tmp:
        done = subprocess.run(
            [npm, "pack", "--silent", f"{PACKAGE}@{version}", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        packed = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not packed:
            said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no package"]
            return f"npm pack {PACKAGE}@{version} failed ({said[0]}): the full bundle is served"
        with tarfile.open(packed[0]) as archive:
            member = archive.extractfile("package/plotly-cartesian.min.js")
            if member is None:
                return f"{PACKAGE}@{version} has no plotly-cartesian.min.js: the full one is served"
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name(target.name + ".tmp")
            staging.write_bytes(member.read())
            staging.replace(target)
    return f"{PACKAGE} {version} installed: {target} ({target.stat().st_size / 1e6:.1f} MB)"
