"""Serving the app: a threaded WSGI server that can be started and stopped from Python,
so `qraptor dashboard`, the tests and the screenshot script run the same server."""

from __future__ import annotations

import threading

from dash import Dash
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log: the live queue polls every second or two and would flood the terminal
    (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class DashboardServer:
    """`app` on host:port in a background thread; `stop()` shuts it down and joins."""

    def __init__(self, app: Dash, host: str = "127.0.0.1", port: int = 8050) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(
            host, port, app.server, threaded=True, request_handler=_QuietHandler
        )
        self.host, self.port = host, self._server.server_port  # port 0 picks a free one
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="qraptor-dashboard", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until stopped (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        sources = getattr(self.app, "qraptor_sources", None)
        if sources is not None:
            sources.close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
