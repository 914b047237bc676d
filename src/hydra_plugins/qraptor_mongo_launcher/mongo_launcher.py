"""`hydra/launcher=mongo`: a `-m` sweep is queued as sessions for workers, not run here.

    python -m qraptor.train -m hydra/launcher=mongo session.seed=0,1,2
    python -m qraptor.train -m hydra/launcher=mongo experiment=quick algo=ppo,a2c \\
        hydra.launcher.priority=5 hydra.launcher.tags=[baseline]

Each job of the sweep is composed as Hydra would run it, validated (a bad job fails the
sweep before anything is queued), and queued with its resolved config, its overrides, the
experiment preset, tags and one sweep id shared by the whole sweep; the session ids and
the sweep id are printed. The database is the composed config's `store` section (or
QRAPTOR_MONGO_URI). `qraptor worker` processes, here or on other machines, then train them.

Hydra imports every module under `hydra_plugins` at start-up, for any command, without
registering it in sys.modules: this module imports only Hydra and defines no dataclass
(with postponed annotations one would fail to build and break every Hydra command);
qraptor's store, schemas and validation load when a sweep is launched.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any, cast

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class MongoLauncherError(CompactHydraException):
    """Printed by Hydra as its message alone (no stack trace)."""


class MongoLauncher(Launcher):
    """Queue every job of a sweep as a session; return the session ids as job results."""

    def __init__(self, **params: Any) -> None:
        self.params = params  # validated in setup(), where errors print readably
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        sweeper = OmegaConf.select(config, "hydra.sweeper._target_", default=None)
        if sweeper != BASIC_SWEEPER:
            raise MongoLauncherError(
                f"hydra/launcher=mongo queues a sweep for workers and returns no results, but "
                f"the sweeper {sweeper} needs each job's result to choose the next ones (an "
                "Optuna search): run it with the basic or joblib_local launcher, or queue a "
                "grid with -m and the basic sweeper"
            )
        from qraptor.core.errors import ConfigError
        from qraptor.worker.submit import launcher_config

        try:
            self.settings = launcher_config(self.params)
        except ConfigError as exc:
            raise MongoLauncherError(str(exc)) from None
        self.config = config
        self.hydra_context = hydra_context

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        from qraptor.core.errors import QraptorError

        jobs = [
            self._job(list(overrides), initial_job_idx + i)
            for i, overrides in enumerate(job_overrides)
        ]
        try:
            return self._enqueue(jobs)
        except QraptorError as exc:
            raise MongoLauncherError(f"sweep not queued: {exc}") from None

    def _job(self, overrides: list[str], idx: int) -> tuple[DictConfig, Any]:
        """The job's config as Hydra would run it, and its validated session request."""
        from qraptor.core.errors import QraptorError
        from qraptor.worker.submit import DEFAULT_EXPERIMENT, session_request

        assert self.config is not None and self.hydra_context is not None  # checked in launch()
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = idx
            sweep_config.hydra.job.num = idx
        HydraConfig.instance().set_config(sweep_config)  # for ${hydra:...} in the job config
        keys = cast("list[str]", [k for k in sweep_config if k != "hydra"])  # top-level: str
        job = OmegaConf.masked_copy(sweep_config, keys)
        experiment = sweep_config.hydra.runtime.choices.get("experiment") or DEFAULT_EXPERIMENT
        try:
            request = session_request(job, filter_overrides(overrides), str(experiment))
        except QraptorError as exc:
            shown = " ".join(filter_overrides(overrides)) or "defaults"
            raise MongoLauncherError(f"job #{idx} ({shown}): {exc}; nothing queued") from None
        return job, request

    def _enqueue(self, jobs: list[tuple[DictConfig, Any]]) -> list[JobReturn]:
        from qraptor.core.ids import new_sweep_id
        from qraptor.core.paths import project_root
        from qraptor.store.config import store_config_from
        from qraptor.store.store import SessionStore
        from qraptor.worker.submit import enqueue

        stores = {OmegaConf.to_yaml(job.store) for job, _ in jobs}
        if len(stores) > 1:
            raise MongoLauncherError("store.* differs between jobs: a sweep goes to one database")
        store_cfg = store_config_from(jobs[0][0].store)
        sweep_id = new_sweep_id()
        root = project_root()  # the submitter's project: relative datasets are in it
        with SessionStore.from_config(store_cfg, root) as store:
            ids = enqueue(
                store,
                [request for _, request in jobs],
                priority=self.settings.priority,
                tags=self.settings.tags,
                sweep_id=sweep_id,
                max_attempts=self.settings.max_attempts,
                root=root,
            )
            where = f"{store.uri} (database {store.database})"
        out = sys.stdout
        out.write(f"queued sweep {sweep_id}: {len(ids)} sessions in {where}\n")
        for session_id, (_, request) in zip(ids, jobs, strict=True):
            out.write(f"  {session_id}  {' '.join(request.overrides) or '(defaults)'}\n")
        out.write(
            f"train them with `qraptor worker`; follow them with "
            f"`qraptor sessions list --sweep {sweep_id}`\n"
        )
        out.flush()
        returns = []
        for session_id, (job, request) in zip(ids, jobs, strict=True):
            ret = JobReturn(overrides=list(request.overrides), cfg=job, status=JobStatus.COMPLETED)
            ret.return_value = session_id
            returns.append(ret)
        return returns
