"""The Dash app: a header with the four pages, a router, and each page's callbacks.

A plain URL router (dcc.Location -> one callback) instead of Dash's page registry: the
registry is module-global, while here everything a page reads comes from the `Sources`
given to `build_app`, so two apps (a test's and a user's) never share state. Dash serves
its own JavaScript bundles (`serve_locally`): the dashboard works without internet.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote

from dash import Dash, Input, Output, dcc, html

from qraptor.core.formatting import status_css
from qraptor.dashboard.pages import compare, data, session, sessions
from qraptor.dashboard.plotly_bundle import URL_PATH, bundle_file
from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.settings import DashboardSettings
from qraptor.dashboard.sources import Sources

NAV = (("Data", data.PATH), ("Sessions", sessions.PATH), ("Compare", compare.PATH))
STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
header { background: #1f4e79; color: white; padding: 0.6em 1.5em; display: flex;
         gap: 1.5em; align-items: baseline; }
header a { color: white; text-decoration: none; font-weight: 600; }
header .brand { font-size: 1.2em; font-weight: 700; margin-right: 1em; }
main { padding: 0.5em 1.5em 2em; max-width: 1400px; }
h2 { margin: 0.6em 0 0.3em; } h3 { margin: 1.2em 0 0.4em; font-size: 1.05em; }
section { background: white; border: 1px solid #e4e4e4; border-radius: 6px;
          padding: 0.2em 1em 1em; margin: 0.8em 0; }
.muted { color: #666; font-size: 0.9em; } .note { color: #8a6d00; font-size: 0.9em; }
.kv { margin: 0.3em 0; font-size: 0.92em; } .kv .key { color: #777; }
.notice { border-left: 4px solid #c62828; background: #fdecea; padding: 0.6em 1em;
          margin: 0.6em 0; } .notice code { background: #fff; padding: 0 0.3em; }
.badge { color: white; border-radius: 4px; padding: 0.1em 0.5em; font-size: 0.7em;
         vertical-align: middle; }
.counts { display: flex; gap: 0.8em; margin: 0.6em 0; flex-wrap: wrap; }
.card { background: white; border: 1px solid #e4e4e4; border-radius: 6px;
        padding: 0.4em 1em; min-width: 6em; text-align: center; }
.card .count { font-size: 1.6em; font-weight: 700; }
.actions { display: flex; gap: 0.6em; align-items: center; margin: 0.5em 0; }
button { padding: 0.3em 0.9em; border: 1px solid #1f4e79; background: white;
         color: #1f4e79; border-radius: 4px; cursor: pointer; }
table.plain { border-collapse: collapse; font-size: 0.9em; }
table.plain td, table.plain th { border: 1px solid #e4e4e4; padding: 0.3em 0.7em;
                                 text-align: left; }
.error { color: #c62828; font-weight: 600; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em;
      max-height: 16em; }
.splits label { margin-right: 1em; }
"""
STYLE += status_css(".card.{status} .count")  # the statuses' colours, defined once

# Plotly.js takes about a second to load and evaluate; dcc.Graph fetches it only once the
# first graph mounts, after the page's callback answered, so the two costs add up. This
# starts it with a page that has graphs instead, and lazily (when dcc.Graph first asks for
# `window.Plotly`) on the sessions page, which has none. dcc.Graph waits on
# `Promise.resolve(window.Plotly || <its own loader>)`: the getter below hands it this copy's
# promise (the bundle (plotly_bundle.py: the cartesian partial one when installed) ends with
# `window.Plotly = Plotly`, which the setter turns into a plain value), so dcc never loads its
# own full copy. If the script fails, `window.Plotly` becomes undefined and dcc loads its own.
PRELOAD_PLOTLY = """<script>
(function () {
  var src = "%s", loading = null;
  function settle(value) {
    Object.defineProperty(window, "Plotly", {value: value, writable: true, configurable: true});
  }
  function load() {
    if (!loading) loading = new Promise(function (done) {
      var script = document.createElement("script");
      script.src = src;
      script.async = true;
      script.onload = function () { done(window.Plotly); };
      script.onerror = function () { settle(undefined); done(undefined); };
      document.head.appendChild(script);
    });
    return loading;
  }
  Object.defineProperty(window, "Plotly", {configurable: true, get: load, set: settle});
  if (!/\\/sessions\\/?$/.test(location.pathname)) load();
})();
</script>"""


def index_page(pathname_prefix: str) -> str:
    """Dash's page template with our styles and the early Plotly.js load."""
    preload = PRELOAD_PLOTLY % (pathname_prefix.rstrip("/") + URL_PATH)
    return (
        "<!DOCTYPE html>\n<html><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}"
        f"<style>{STYLE}</style>{preload}</head><body>{{%app_entry%}}"
        "<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>"
    )


def _serve_plotly(app: Dash) -> None:
    """The chosen Plotly.js bundle at URL_PATH, cached by the browser for a day."""
    from flask import send_file

    bundle = bundle_file()

    def plotly_js() -> Any:
        return send_file(bundle, mimetype="application/javascript", max_age=86_400)

    app.server.add_url_rule(URL_PATH, "qraptor_plotly", plotly_js)


def build_app(settings: DashboardSettings, sources: Sources | None = None) -> Dash:
    """The dashboard over `settings` (or over ready `sources`, e.g. a test's)."""
    sources = sources or Sources.from_settings(settings)
    app = Dash(
        __name__,
        title="qraptor",
        # typed `str` by Dash, whose docs say "Set to None or '' ..." to keep the title
        update_title=None,  # type: ignore[arg-type]
        serve_locally=True,
        suppress_callback_exceptions=True,  # page components come and go with the route
        include_assets_files=False,
    )
    app.index_string = index_page(app.config.requests_pathname_prefix)
    _serve_plotly(app)
    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            html.Header(
                [html.Span("qraptor", className="brand")]
                + [dcc.Link(title, href=path, id=f"nav-{title.lower()}") for title, path in NAV]
            ),
            html.Main(id="page"),
        ]
    )

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    def route(pathname: str | None, search: str | None) -> Any:
        return render_page(sources, pathname or "/", search or "")

    for page in (data, sessions, session, compare):
        page.register(app, sources)
    sources.warm()
    app.qraptor_sources = sources  # type: ignore[attr-defined]  # for closing at shutdown
    return app


def render_page(sources: Sources, pathname: str, search: str = "") -> Any:
    """The layout of the page at `pathname` (`search`: the URL's query string)."""
    query = {k: v[-1] for k, v in parse_qs(search.lstrip("?")).items()}
    path = pathname.rstrip("/") or "/"
    if path in ("/", data.PATH):
        return data.layout(sources)
    if path == sessions.PATH:
        return sessions.layout(sources)
    if path.startswith(session.PREFIX):
        return session.layout(sources, unquote(path.removeprefix(session.PREFIX)))
    if path == compare.PATH:
        return compare.layout(sources, query.get("sweep"), query.get("experiment"))
    from qraptor.dashboard.components import notice

    return notice(
        Unavailable(f"page {pathname}", "no such page", "open /data, /sessions or /compare")
    )
