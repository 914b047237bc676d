"""What the training entry point loads: no store, dashboard, MLflow or TensorFlow module unless
the session is configured to use them (a core install has none of them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("pymongo", "qraptor.store", "qraptor.worker", "dash", "plotly", "tensorflow", "keras",
         "mlflow", "qraptor.dashboard", "nbclient")  # fmt: skip

PROBE = """
import json, sys
sys.argv = ["qraptor train", *json.loads(sys.argv[1])]
from qraptor.cli.train import main
loaded_at_import = sorted(sys.modules)
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps({"import": loaded_at_import, "run": sorted(sys.modules)}))
"""


def _loaded(overrides: list[str], cwd: Path) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(overrides)],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")})


def test_a_session_without_tracking_loads_no_store_dashboard_mlflow_or_tensorflow(
    project_root: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    loaded = _loaded(
        ["experiment=tiny", f"session.dataset={tiny_dataset}", f"hydra.run.dir={tmp_path}/run",
         "tracking.enabled=false", "tracking.tensorboard=false"],
        project_root,
    )  # fmt: skip
    assert _heavy(loaded["import"]) == []
    assert _heavy(loaded["run"]) == []
    assert "stable_baselines3" in loaded["run"]  # non-vacuous: it did train
    assert (tmp_path / "run" / "model.zip").is_file()


def test_tracking_loads_mlflow_but_still_no_store_or_dashboard(
    project_root: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    loaded = _loaded(
        ["experiment=tiny", f"session.dataset={tiny_dataset}", f"hydra.run.dir={tmp_path}/run",
         "tracking.artifacts.keras_h5=false", "tracking.model.log=false",
         "tracking.model.register=false"],
        project_root,
    )  # fmt: skip
    heavy = _heavy(loaded["run"])
    assert "mlflow" in heavy
    assert not [m for m in heavy if m.split(".")[0] in ("pymongo", "dash", "tensorflow", "keras")]
    assert not [m for m in heavy if m.startswith(("qraptor.store", "qraptor.dashboard"))]
