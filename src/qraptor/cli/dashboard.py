"""`qraptor dashboard`: resolve what to read, open the store (starting the local server when
that is the configured one, as `qraptor worker` does), serve until Ctrl-C."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from qraptor.core.errors import ConfigError, QraptorError
from qraptor.core.log import console


def run_dashboard(
    *,
    host: str,
    port: int,
    project: Path | None,
    mongo_uri: str | None,
    mlflow_uri: str | None,
    mlflow_ui: str,
    no_db: bool,
    overrides: Sequence[str] = (),
) -> None:
    from qraptor.core.paths import project_root
    from qraptor.dashboard.app import build_app
    from qraptor.dashboard.server import DashboardServer
    from qraptor.dashboard.settings import load_settings
    from qraptor.dashboard.sources import Sources

    if mongo_uri is not None and "://" not in mongo_uri:
        raise ConfigError("--mongo-uri", f"'{mongo_uri}' is not a mongodb:// URI")
    if not mlflow_ui.startswith(("http://", "https://")):
        raise ConfigError("--mlflow-ui", f"'{mlflow_ui}' is not an http(s):// URL")
    settings = load_settings(
        project or project_root(),
        mongo_uri=mongo_uri,
        mlflow_uri=mlflow_uri,
        mlflow_ui=mlflow_ui,
        no_db=no_db,
        store_overrides=overrides,
    )
    sources = Sources.from_settings(settings)
    problem = sources.store.start() if settings.store is not None else None
    if problem:
        console.print(f"[yellow]warning:[/] {escape(problem)}; the session pages will say so")
    try:
        server = DashboardServer(build_app(settings, sources), host, port)
    except OSError as exc:
        sources.close()
        if exc.errno == errno.EADDRINUSE:
            raise QraptorError(
                f"port {port} on {host} is in use: choose another with --port"
            ) from None
        raise QraptorError(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    console.print(
        f"qraptor dashboard on [bold]{server.url}[/] (project {settings.project}); Ctrl-C stops it"
    )
    server.start()
    try:
        server.wait()
    except KeyboardInterrupt:
        console.print("dashboard stopped")
    finally:
        server.stop()
