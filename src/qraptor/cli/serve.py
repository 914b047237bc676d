"""`qraptor serve store|mlflow` and `qraptor health SERVICE`: the stack's services and their
health checks (deploy/compose.yaml runs them; any host can too).

Passwords come from the environment or a secret file only (qraptor.core.credentials):
``QRAPTOR_MONGO_PASSWORD[_FILE]`` for the store's user, ``QRAPTOR_POSTGRES_PASSWORD[_FILE]``
for MLflow's database.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from qraptor.core.credentials import STORE_URI_ENV, from_environment
from qraptor.core.errors import ConfigError
from qraptor.core.numbers import whole_number

STORE_PASSWORD_ENV = "QRAPTOR_MONGO_PASSWORD"
POSTGRES_PASSWORD_ENV = "QRAPTOR_POSTGRES_PASSWORD"


def _secret(name: str) -> str:
    found = from_environment(name)
    if found is None:
        raise ConfigError(name, f"is not set: set {name} or {name}_FILE (a secret file)")
    return found.value


def serve_store(args: argparse.Namespace) -> None:
    from qraptor.deploy.store_service import StoreService, serve

    service = StoreService(Path(args.data), args.host, args.port, args.user, args.cache_size)
    serve(service, _secret(STORE_PASSWORD_ENV))


def serve_mlflow(args: argparse.Namespace) -> None:
    from qraptor.deploy.mlflow_service import MlflowService, serve

    service = MlflowService(
        db_host=args.db_host,
        db_port=args.db_port,
        db_name=args.db_name,
        db_user=args.db_user,
        artifacts=Path(args.artifacts),
        host=args.host,
        port=args.port,
        allowed_hosts=args.allowed_hosts,
        workers=args.workers,
    )
    serve(service, _secret(POSTGRES_PASSWORD_ENV))


def health(args: argparse.Namespace) -> int:
    """Print one line; 0 healthy, 1 not."""
    from qraptor.deploy import health as checks

    if args.service in ("store", "worker"):
        from qraptor.store.uri import with_password

        uri = os.environ.get(STORE_URI_ENV, "")
        if not uri:
            print(f"unhealthy: {STORE_URI_ENV} is not set")
            return 1
        ok, line = checks.store_answers(with_password(uri))
    else:
        ok, line = checks.http_ok(args.url or DEFAULT_URLS[args.service])
    print(("healthy: " if ok else "unhealthy: ") + line)
    return 0 if ok else 1


DEFAULT_URLS = {
    "mlflow": "http://127.0.0.1:5000/health",
    "dashboard": "http://127.0.0.1:8050/",
}


def add_commands(groups: argparse._SubParsersAction) -> None:
    """`serve` and `health` on the top-level parser."""
    serve = groups.add_parser(
        "serve",
        help="run a service of the deployed stack: the store with auth, MLflow on PostgreSQL",
        description="The services of deploy/compose.yaml, usable on any host. Passwords come "
        "only from QRAPTOR_MONGO_PASSWORD[_FILE] and QRAPTOR_POSTGRES_PASSWORD[_FILE].",
    )
    serve.set_defaults(help_of=serve)
    services = serve.add_subparsers(title="services", metavar="SERVICE")
    store = services.add_parser(
        "store",
        help="SecantusDB with authentication; its user is created at the first start",
        description="The session store for a stack: on an empty data folder it creates the "
        "user (password from QRAPTOR_MONGO_PASSWORD_FILE) on a loopback-only server, then it "
        "runs with --auth on --host/--port.",
    )
    store.add_argument("--data", default="/var/lib/qraptor/store", help="data folder")
    store.add_argument("--host", default="0.0.0.0", help="address to listen on")
    store.add_argument("--port", type=whole_number, default=27017, help="port (default 27017)")
    store.add_argument("--user", default="qraptor", help="the user created at first start")
    store.add_argument("--cache-size", default="512M", help="WiredTiger cache (default 512M)")
    store.set_defaults(handler=lambda a, _: serve_store(a))
    mlflow = services.add_parser(
        "mlflow",
        help="the MLflow tracking server on PostgreSQL, serving artifacts from a folder",
        description="mlflow server with --backend-store-uri postgresql://USER@HOST/DB (the "
        "password from QRAPTOR_POSTGRES_PASSWORD_FILE, passed as PGPASSWORD), "
        "--serve-artifacts from --artifacts.",
    )
    mlflow.add_argument("--db-host", default="postgres", help="PostgreSQL host")
    mlflow.add_argument("--db-port", type=whole_number, default=5432, help="PostgreSQL port")
    mlflow.add_argument("--db-name", default="mlflow", help="database")
    mlflow.add_argument("--db-user", default="mlflow", help="database user")
    mlflow.add_argument("--artifacts", default="/var/lib/qraptor/mlflow", help="artifact folder")
    mlflow.add_argument("--host", default="0.0.0.0", help="address to listen on")
    mlflow.add_argument("--port", type=whole_number, default=5000, help="port (default 5000)")
    mlflow.add_argument(
        "--allowed-hosts", default="", help="Host headers answered (comma-separated)"
    )
    mlflow.add_argument("--workers", type=whole_number, default=2, help="server processes")
    mlflow.set_defaults(handler=lambda a, _: serve_mlflow(a))

    check = groups.add_parser(
        "health",
        help="check a stack service (exit 0 healthy, 1 not): store, worker, mlflow, dashboard",
        description="store and worker: the store at $QRAPTOR_MONGO_URI answers with the "
        "password of QRAPTOR_MONGO_PASSWORD[_FILE]; mlflow and dashboard: --url answers 200.",
    )
    check.add_argument("service", choices=("store", "worker", "mlflow", "dashboard"))
    check.add_argument("--url", help="for mlflow and dashboard (defaults: local ports)")
    check.set_defaults(handler=lambda a, _: _exit(health(a)))


def _exit(code: int) -> None:
    if code:
        raise SystemExit(code)
