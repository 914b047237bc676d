"""The stack's MLflow tracking server: runs and the model registry in PostgreSQL, artifacts
served by the server itself from its volume.

The database password comes from a secret file and reaches the server through libpq's
``PGPASSWORD`` in this process's environment, which the server inherits: the backend URI
on its command line (shown by `docker inspect` and `ps`) names the user only. Clients (the
workers, a researcher's machine) talk to the server over HTTP and upload artifacts through
it (``--serve-artifacts``), so none of them needs the database or the volume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

from qraptor.core.errors import ConfigError
from qraptor.core.log import get_logger
from qraptor.core.paths import installed_command

log = get_logger(__name__)


@dataclass(frozen=True)
class MlflowService:
    """Where the server listens, its database (without the password) and its artifacts."""

    db_host: str
    db_port: int
    db_name: str
    db_user: str
    artifacts: Path
    host: str = "0.0.0.0"
    port: int = 5000
    allowed_hosts: str = ""  # comma-separated Host headers the server answers
    workers: int = 2

    @property
    def backend_uri(self) -> str:
        user = quote(self.db_user, safe="")
        return f"postgresql+psycopg2://{user}@{self.db_host}:{self.db_port}/{self.db_name}"


def server_command(service: MlflowService) -> list[str]:
    """`mlflow server` on PostgreSQL (psycopg2: SQLAlchemy 2.1 would pick psycopg 3 for a bare
    postgresql://) with proxied artifacts; no password in it."""
    command = [
        _mlflow(),
        "server",
        "--backend-store-uri",
        service.backend_uri,
        "--artifacts-destination",
        str(service.artifacts),
        "--serve-artifacts",
        "--host",
        service.host,
        "--port",
        str(service.port),
        "--workers",
        str(service.workers),
    ]
    if service.allowed_hosts:
        command += ["--allowed-hosts", service.allowed_hosts]
    return command


def serve(service: MlflowService, db_password: str) -> NoReturn:
    """Become the MLflow server, its database password in PGPASSWORD."""
    if not db_password:
        raise ConfigError("QRAPTOR_POSTGRES_PASSWORD", "is empty: MLflow cannot log in")
    service.artifacts.mkdir(parents=True, exist_ok=True)
    os.environ["PGPASSWORD"] = db_password
    command = server_command(service)
    log.info(
        "mlflow: serving on %s:%d, runs in %s, artifacts in %s",
        service.host,
        service.port,
        service.backend_uri,
        service.artifacts,
    )
    os.execv(command[0], command)


def _mlflow() -> str:
    found = installed_command("mlflow")
    if not found:
        raise ConfigError(
            "mlflow", "the mlflow command is not installed: pip install 'qraptor[tracking]'"
        )
    return found
