"""`qraptor dashboard`: a web view of the data pipeline, the session queue and the results.

Built with Dash (Plotly figures, bundles served by the app itself, so it works offline).
Every page reads what the other parts wrote, and nothing else: the DVC outputs under the
project, the MongoDB session store (documents and GridFS result CSVs) and MLflow (for links
to runs). When one of them is missing the page says which and the command that makes it.

    from qraptor.dashboard import DashboardSettings, build_app
    app = build_app(DashboardSettings(project=Path("."), ...))
"""

from __future__ import annotations

from qraptor.core.extras import require

require("dash", "dashboard")
require("plotly", "dashboard")

# ruff: noqa: E402 - the extra is checked before the modules that import dash
from qraptor.dashboard.app import build_app
from qraptor.dashboard.settings import DashboardSettings

__all__ = ["DashboardSettings", "build_app"]
