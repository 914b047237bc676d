"""What the dashboard reads, as explicit values: built once by the CLI (or a test), then
handed to `build_app`. Nothing below the entry point reads environment variables or conf/.

Resolution follows the rest of qraptor: the session store is conf/store (+ overrides) with
`QRAPTOR_MONGO_URI` > `store.uri` > the local SecantusDB server; MLflow is conf/tracking with
`QRAPTOR_MLFLOW_URI` > `tracking.uri` > `MLFLOW_TRACKING_URI` > sqlite:///<project>/mlflow.db.
An explicit `--mongo-uri` / `--mlflow-uri` wins over all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qraptor.evaluation.compare.config import CompareConfig
from qraptor.store.config import StoreConfig

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"
# A page must answer in seconds: the store's defaults wait up to 2 minutes for a database
# that went away (right for a worker mid-session, wrong for a person looking at a page).
# Put first, so the user's store overrides still win.
STORE_FAST_FAIL = (
    "server_selection_timeout_seconds=1.5",
    "retry.initial_delay_seconds=0.1",
    "retry.max_delay_seconds=0.5",
    "retry.total_seconds=1",
)


@dataclass(frozen=True)
class DashboardSettings:
    """Everything the app needs; `store` None means no database (`--no-db`)."""

    project: Path  # DVC outputs are read relative to it
    store: StoreConfig | None
    mongo_uri: str | None  # explicit URI; None: QRAPTOR_MONGO_URI, store.uri, local server
    mlflow_uri: str | None  # tracking URI for run lookups; None: links without experiment
    mlflow_ui: str  # base URL of `mlflow ui` / `mlflow server` for links to runs
    compare: CompareConfig
    ledger_collection: str = "trials"
    refresh_seconds: float = 2.0  # the sessions page polls the queue this often


def load_settings(
    project: Path,
    *,
    mongo_uri: str | None = None,
    mlflow_uri: str | None = None,
    mlflow_ui: str = DEFAULT_MLFLOW_UI,
    no_db: bool = False,
    store_overrides: Sequence[str] = (),
) -> DashboardSettings:
    """Settings from conf/qraptor.yaml (store, tracking, compare, ledger: composed once, in
    `project`'s conf/) and the command line."""
    from qraptor.core.config import compose_command
    from qraptor.evaluation.compare.config import compare_config_from
    from qraptor.store.config import store_config_from
    from qraptor.store.ledger import ledger_config_from
    from qraptor.tracking.config import resolve_tracking_uri, tracking_config_from

    project = Path(project).expanduser().resolve()
    conf = project / "conf" if (project / "conf").is_dir() else None
    composed = compose_command("qraptor", [*STORE_FAST_FAIL, *store_overrides], "store", conf)
    store = None if no_db else store_config_from(composed.store)
    tracking_uri = mlflow_uri or resolve_tracking_uri(tracking_config_from(composed), project)
    return DashboardSettings(
        project=project,
        store=store,
        mongo_uri=mongo_uri,
        mlflow_uri=tracking_uri,
        mlflow_ui=mlflow_ui.rstrip("/"),
        compare=compare_config_from(composed.compare),
        ledger_collection=ledger_config_from(composed.ledger).collection,
    )
