"""A real HTTP server on 127.0.0.1 serving the recorded fixtures, for the connector tests.

The connectors speak HTTP to it exactly as to the exchange or Yahoo (their base URL is a
config value); the server serves files from a folder and answers a few API routes from
recorded responses, and it logs every request (path, query, arrival time) so tests can
check pagination and the spacing that the rate limit demands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures"
Route = Callable[[dict[str, str]], tuple[int, bytes, str]]


@dataclass
class Request:
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() on arrival


@dataclass
class RecordedServer:
    root: Path | None = None  # static files (a bulk-dump mirror)
    routes: dict[str, Route] = field(default_factory=dict)
    fallback: Route | None = None  # answers what no route or file does (else an S3-style 404)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _handler(server: RecordedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            server.requests.append(Request(parts.path, query, time.monotonic()))
            if parts.path in server.routes:
                status, body, kind = server.routes[parts.path](query)
            elif server.root is not None and (server.root / parts.path.lstrip("/")).is_file():
                status, body = 200, (server.root / parts.path.lstrip("/")).read_bytes()
                kind = "application/octet-stream"
            elif server.fallback is not None:
                status, body, kind = server.fallback(query)
            else:
                status, body, kind = 404, b"<Error><Code>NoSuchKey</Code></Error>", "text/xml"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet test output
            pass

    return Handler


@contextmanager
def serve() -> Iterator[RecordedServer]:
    """A RecordedServer on a free port of 127.0.0.1 for the duration of the block."""
    state = RecordedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
