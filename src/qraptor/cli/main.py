"""`qraptor`: the command line. Subcommands are thin: parse, compose config, call a stage.

User errors (bad data, bad config) print one readable message and exit with status 2;
only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.markup import escape

from qraptor import __version__
from qraptor.core.credentials import refuse_secret_arguments
from qraptor.core.errors import QraptorError
from qraptor.core.log import console, setup_logging
from qraptor.core.numbers import whole_number

# Examples shown under each command's --help (argparse keeps their line breaks).
EXAMPLES = {
    "data": """examples:
  dvc repro                                   # every stage, cached (what you normally run)
  qraptor data download --out /tmp/btc data=binance_klines data.dumps.end=2024-01-31
  qraptor data reduce --in data/interim/clean --out /tmp/bars.parquet \\
      --metrics /tmp/reduce.json --plot-csv /tmp/bars.csv --figure /tmp/bars.png reduce=minute""",
    "db": """examples:
  qraptor db start                  # start (or find) the local server; prints its URI
  qraptor db status                 # which database, whether it answers, sessions per status
  qraptor db stop                   # stop it; the data folder stays
  qraptor db start local.port=27018""",
    "worker": """examples:
  qraptor worker                              # serve the queue until SIGTERM / Ctrl-C
  qraptor worker --once                       # the next queued session, then exit
  qraptor worker --idle-exit 60 lease_seconds=30 worker.poll_max_seconds=5
  QRAPTOR_MONGO_URI_FILE=/run/secrets/mongo-uri qraptor worker   # one of a fleet""",
    "sessions": """examples:
  qraptor sessions submit experiment=quick session.seed=3 --priority 5 --tag smoke
  qraptor sessions list --status failed --limit 20
  qraptor sessions show 6f3a                  # a unique id prefix is enough
  qraptor sessions export 6f3a --out exported/
  qraptor sessions retry 6f3a --fresh""",
    "evaluate": """examples:
  qraptor evaluate --metrics reports/metrics/evaluate.json --show
  qraptor evaluate --run models/agent --metrics /tmp/m.json --plots /tmp/p --figures /tmp/f""",
    "backtest": """examples:
  qraptor backtest models/agent                         # the test split, as training did
  qraptor backtest models/agent --split val --stochastic --random-runs 64
  qraptor backtest models/agent/checkpoints/model_000000100000.zip --split val
  qraptor backtest models/agent --data ~/eurusd_2018.csv --start 2018-01-01
  qraptor backtest models/agent --data sample_eurusd    # a conf/data config
  qraptor backtest 20261202-184055 --fold 3             # a session of the store
  qraptor backtest models:/qraptor-default-ppo/3 --data my_data.yaml --out /tmp/bt""",
    "card": """examples:
  qraptor card models/agent                  # the demo's agent: models/agent/model_card.md
  qraptor card outputs/2026-12-03/06-40-00 --print
  qraptor card models/agent --no-diff        # without conf/: no config diff""",
    "compare": """examples:
  qraptor compare --sweep sweep-20261125-174749-3fa9c2
  qraptor compare --experiment quick split=test bootstrap.reps=20000
  qraptor compare 6f3a 9b1c --no-html""",
    "study": """examples:
  qraptor study experiment=tiny                      # 1 config x 4 folds x 3 seeds, seconds
  qraptor study experiment=tiny seeds=2 folds=[2,3]  # fewer sessions
  qraptor study                                      # the default session at full size
  qraptor study study=ppo_search                     # Optuna: 20 trials, median pruning
  qraptor study study=ppo_search n_trials=8 score=lcb
  qraptor study runner=queue experiment=quick        # sessions for `qraptor worker`s
  qraptor study experiment=tiny tracking.enabled=false out_dir=/tmp/my-study""",
    "dashboard": """examples:
  qraptor dashboard                           # http://127.0.0.1:8050
  qraptor dashboard --no-db                   # data pages only
  qraptor dashboard --port 8060 store.database=team""",
}

STUDY_DESCRIPTION = (
    "Run a walk-forward study: every trial (one configuration of a training session) is "
    "trained on each walk-forward fold's training span with `seeds` seeds (default 3) and "
    "evaluated on the fold's test window; the out-of-sample bar returns are stitched across "
    "folds per seed and the trial is scored on the median across seeds of their per-bar "
    "Sharpe (score=lcb: a lower confidence bound), never on the best seed. Trials come from "
    "the sessions' own config (search=none), a grid, or Optuna's TPE (search=optuna, a "
    "global n_trials budget). The best trial is then retrained on the chronological train "
    "split per seed and evaluated ONCE on the held-out test span; nothing else touches it. "
    "Writes study.json (trials, PBO, DSR, the bars of live or paper record still needed, "
    "the held-out verdict), oos_returns.parquet and oos_equity.png to study.out_dir "
    "(default reports/studies/<name>). Sessions train here (runner=process, each an MLflow "
    "run under the study's parent run) or on `qraptor worker`s (runner=queue). Defaults: "
    "conf/study/default.yaml."
)
BACKTEST_DESCRIPTION = (
    "Replay a trained agent through the environment and costs it was trained with, next to "
    "the baselines, and write trades.csv, equity.csv, baselines_equity.csv, metrics.json "
    "(agent, baselines, verdict, the Sharpe ratio's 95% interval and PSR) and equity.png. "
    "MODEL is a run folder (models/agent), a model zip inside one (checkpoints/model_N.zip), "
    "a session id of the store, runs:/<run_id> or models:/<name>/<version|alias>. On a split "
    "(default --split test) the run's own dataset is replayed exactly as training evaluated "
    "it; --data rebuilds bars from a raw file (read with the run's data settings) or a data "
    "config (conf/data name or YAML) through ingest, clean, reduce and features with the "
    "run's settings and its frozen normalisation, refusing bars whose columns, frequency or "
    "features are not the model's. key=value items are overrides of conf/qraptor.yaml "
    "(store.uri=..., tracking.uri=...)."
)
OVERRIDES_HELP = "Hydra overrides of conf/pipeline.yaml, e.g. reduce.freq=5min data=synthetic"


class _ExamplesFormatter(argparse.HelpFormatter):
    """Descriptions wrap to the terminal's width; an "examples:" epilog keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        refuse_secret_arguments(argv)  # before anything runs: `ps` shows them, Hydra copies them
    except QraptorError as exc:
        _print_error(exc)
        return 2
    if argv[:1] == ["train"]:  # Hydra parses its own command line
        from qraptor.cli.train import main as train_main

        train_main(argv[1:])
        return 0
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    setup_logging(verbose=args.verbose)
    if not hasattr(args, "handler"):  # `qraptor`, `qraptor db`: what it can do, as a usage error
        getattr(args, "help_of", parser).print_help()
        return 2
    unknown = [e for e in extra if e.startswith("-")]
    if unknown:
        parser.error(f"unrecognised arguments: {' '.join(unknown)}")
    try:
        args.handler(args, list(extra))
    except QraptorError as exc:
        _print_error(exc)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: outputs were left as they were[/]")
        return 130
    return 0


def _print_error(exc: QraptorError) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qraptor",
        description="From raw market data to honestly evaluated RL trading agents.",
        epilog="key=value items are Hydra overrides: of conf/train.yaml (train, sessions "
        "submit), conf/pipeline.yaml (data), conf/study.yaml (study) or conf/qraptor.yaml (db, "
        "sessions, worker, compare, dashboard), where a key that names no group belongs to the "
        "command's own (`qraptor worker lease_seconds=30` is store.lease_seconds). `qraptor "
        "COMMAND -h` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"qraptor {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups = parser.add_subparsers(title="commands", metavar="COMMAND")

    groups.add_parser(
        "train",
        help="train one session in this process; -m sweeps (Hydra overrides of conf/train.yaml)",
        description="`qraptor train --help` lists examples.",
        add_help=False,
    )
    data = groups.add_parser(
        "data",
        epilog=EXAMPLES["data"],
        formatter_class=_ExamplesFormatter,
        help="data pipeline stages (dvc.yaml runs them; `dvc repro` runs all)",
        description="Data pipeline stages. Normally run by `dvc repro`; paths come from "
        "dvc.yaml, parameters from conf/pipeline.yaml (+ Hydra overrides).",
    )
    data.set_defaults(help_of=data)
    stages = data.add_subparsers(title="stages", metavar="STAGE")
    raw = _stage(
        stages,
        "raw",
        "materialise the configured raw data (sample, synthetic, or downloaded)",
        [("--out", "folder for the raw files")],
        _run_raw,
    )
    raw.add_argument("--metrics", type=Path, help="what was materialised (DVC metrics JSON)")
    download = _stage(
        stages,
        "download",
        "fetch a connector source (dumps | ccxt | yfinance) into a folder, verified",
        [("--out", "folder for the downloaded files")],
        _run_download,
    )
    download.add_argument(
        "--metrics", type=Path, help="source, URLs, checksums and download time (JSON)"
    )
    _stage(
        stages,
        "ingest",
        "raw CSV/Parquet -> canonical Parquet parts",
        [
            ("--raw", "folder of raw files (sample/synthetic sources)"),
            ("--out", "output part folder"),
        ],
        _run_ingest,
    )
    _stage(
        stages,
        "clean",
        "validate and clean; writes the cleaning report",
        [
            ("--in", "ingested part folder"),
            ("--out", "cleaned part folder"),
            ("--metrics", "cleaning report (DVC metrics JSON)"),
            ("--work", "scratch folder for out-of-core sorting"),
        ],
        _run_clean,
    )
    _stage(
        stages,
        "reduce",
        "ticks -> time/tick/volume/dollar bars; bars -> coarser bars",
        [
            ("--in", "cleaned part folder"),
            ("--out", "bars Parquet file"),
            ("--metrics", "bar summary (DVC metrics JSON)"),
            ("--plot-csv", "thinned prices for DVC plots"),
            ("--figure", "PNG overview of the bars"),
        ],
        _run_reduce,
    )
    _stage(
        stages,
        "features",
        "causal features over the bars",
        [
            ("--in", "bars Parquet file"),
            ("--out", "features Parquet file"),
            ("--metrics", "feature summary (DVC metrics JSON)"),
        ],
        _run_features,
    )
    _stage(
        stages,
        "split",
        "chronological + walk-forward splits, causal normalisation",
        [
            ("--in", "features Parquet file"),
            ("--out", "dataset folder"),
            ("--metrics", "split boundaries (DVC metrics JSON)"),
            ("--figure", "PNG of the splits over the price"),
        ],
        _run_split,
    )
    _stage(
        stages,
        "panel-raw",
        "copy the multi-asset source (conf/panel: the S&P 500 sample or your files)",
        [("--out", "folder for the raw panel files"), ("--metrics", "what was copied (JSON)")],
        _run_panel_raw,
    )
    _stage(
        stages,
        "panel-dataset",
        "panel files -> checked, causal features per instrument and across, split",
        [
            ("--raw", "the panel-raw folder"),
            ("--out", "panel dataset folder"),
            ("--metrics", "instruments, bars per span, problems (DVC metrics JSON)"),
        ],
        _run_panel_dataset,
    )

    db = groups.add_parser(
        "db",
        epilog=EXAMPLES["db"],
        formatter_class=_ExamplesFormatter,
        help="the local MongoDB (SecantusDB) server that stores sessions",
        description="Start, inspect or stop the local SecantusDB server qraptor uses when no "
        "MongoDB URI is configured (QRAPTOR_MONGO_URI[_FILE] or store.uri). Overrides of "
        "conf/store/default.yaml may follow, e.g. local.port=27018.",
    )
    db.set_defaults(help_of=db)
    actions = db.add_subparsers(title="actions", metavar="ACTION")
    for action, text in (
        ("start", "start the local server (or report the one running) and print its URI"),
        ("status", "which database sessions go to, whether it answers, sessions per status"),
        ("stop", "stop the local server; its data folder is kept"),
    ):
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("overrides", nargs="*", help="overrides of conf/store/default.yaml")
        sub.set_defaults(handler=_run_db, action=action)

    worker = groups.add_parser(
        "worker",
        epilog=EXAMPLES["worker"],
        formatter_class=_ExamplesFormatter,
        help="train queued sessions from the session store, one at a time, until stopped",
        description="Claim the next queued session (priority, then age), train it with "
        "heartbeats and GridFS checkpoints, store its model and results, repeat. SIGTERM or "
        "Ctrl-C checkpoints and releases the running session, then exits 0. Overrides of "
        "conf/store (lease_seconds=30, or QRAPTOR_MONGO_URI for the database) and of "
        "conf/worker (worker.poll_max_seconds=5) may follow.",
    )
    worker.add_argument("--once", action="store_true", help="the next session, if any, then exit")
    worker.add_argument(
        "--max-sessions", type=whole_number, metavar="N", help="exit after N sessions"
    )
    worker.add_argument(
        "--idle-exit", type=float, metavar="SECONDS", help="exit after this long without work"
    )
    worker.add_argument(
        "--poll", type=float, metavar="SECONDS", help="first wait when the queue is empty"
    )
    worker.add_argument("--worker-id", help="name in the session store (default host:pid)")
    worker.add_argument("overrides", nargs="*", help="overrides of conf/store and conf/worker")
    worker.set_defaults(handler=_run_worker)

    sessions = groups.add_parser(
        "sessions",
        epilog=EXAMPLES["sessions"],
        formatter_class=_ExamplesFormatter,
        help="queue, inspect, cancel, retry and export training sessions",
        description="Training sessions in the session store. Sessions are named by id or a "
        "unique id prefix; overrides of conf/store (store.uri=...) choose the database.",
    )
    sessions.set_defaults(help_of=sessions)
    verbs = sessions.add_subparsers(title="actions", metavar="ACTION")
    sub = verbs.add_parser(
        "submit",
        help="queue one session: Hydra overrides of conf/train.yaml, validated first",
        description="Compose conf/train.yaml with the overrides (experiment=quick "
        "session.seed=3 ...), validate it and queue it; prints the session id. The queue is "
        "QRAPTOR_MONGO_URI[_FILE], or store.uri='mongodb://...' (quoted: Hydra override "
        "syntax; no password: that goes in QRAPTOR_MONGO_URI[_FILE]).",
    )
    sub.add_argument("--priority", type=whole_number, default=0, help="higher is claimed first")
    sub.add_argument("--tag", action="append", default=[], help="a label (repeatable)")
    sub.add_argument(
        "--max-attempts", type=whole_number, help="claims before failing (store default)"
    )
    sub.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml")
    sub.set_defaults(handler=_run_sessions, action="submit")
    sub = verbs.add_parser(
        "list",
        help="sessions as a table, newest first",
        description="The sessions of the store as a table, newest first: id, status, name, "
        "priority, attempts, progress, worker, val and test Sharpe, age; filtered by status, "
        "sweep or tag.",
    )
    sub.add_argument("--status", help="queued | running | succeeded | failed | cancelled")
    sub.add_argument("--sweep", help="sweep id")
    sub.add_argument("--tag", help="tag")
    sub.add_argument("--limit", type=whole_number, default=50, help="rows shown (default 50)")
    sub.add_argument("--wide", action="store_true", help="columns at full width, none cut")
    sub.add_argument("overrides", nargs="*", help="overrides of conf/store")
    sub.set_defaults(handler=_run_sessions, action="list")
    for action, text in (
        ("show", "one session: config, history, errors, metrics, files"),
        ("cancel", "cancel a queued or running session"),
        ("retry", "queue a failed or cancelled session again"),
        ("export", "download a session's model, CSVs and metrics (sha256-verified)"),
    ):
        sub = verbs.add_parser(action, help=text, description=text)
        sub.add_argument("session", help="session id or a unique prefix")
        if action == "retry":
            sub.add_argument("--fresh", action="store_true", help="drop checkpoints: restart")
        if action == "export":
            sub.add_argument("--out", type=Path, required=True, help="folder to write into")
            sub.add_argument("--checkpoints", action="store_true", help="checkpoints too")
        sub.add_argument("overrides", nargs="*", help="overrides of conf/store")
        sub.set_defaults(handler=_run_sessions, action=action)

    demo = groups.add_parser(
        "demo",
        help="the pipeline on the shipped sample (dvc repro), then its results and next steps",
        description="What `make demo` runs: `dvc repro` in this project (each stage's lines), "
        "DVC's offline plots page, the data's figures in brief, the agent next to its baselines "
        "with the verdict, and the commands to go on with, named after this run.",
    )
    demo.set_defaults(handler=_run_demo)

    metrics = groups.add_parser(
        "metrics",
        help="every pipeline stage's DVC metrics, compact, then the evaluation's table",
        description="The metrics files of dvc.yaml's `paths.metrics` folder, one row per stage "
        "that wraps within the terminal (`dvc metrics show` puts all keys of a file in one "
        "line), then the agent-vs-baselines table of the evaluate stage.",
    )
    metrics.set_defaults(handler=_run_metrics)

    evaluate = groups.add_parser(
        "evaluate",
        epilog=EXAMPLES["evaluate"],
        formatter_class=_ExamplesFormatter,
        help="reports of a training run: DVC metrics, equity plots vs baselines (dvc stage)",
        description="Turn a training run's evaluation (its eval/<split>/ folders) into a flat "
        "DVC metrics file (keys <split>/<policy>/<metric>, e.g. val/agent/sharpe, as in MLflow), "
        "thinned equity curves for `dvc plots` and one figure per split.",
    )
    evaluate.add_argument("--run", type=Path, help="the training run folder")
    evaluate.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    evaluate.add_argument("--plots", type=Path, help="folder for equity CSVs")
    evaluate.add_argument("--figures", type=Path, help="folder for PNG figures")
    evaluate.add_argument(
        "--show", action="store_true", help="only print the table of an existing --metrics file"
    )
    evaluate.add_argument("--title", default="", help="prefix of the figure titles")
    evaluate.add_argument(
        "--brief",
        action="store_true",
        help="one line instead of the table (a pipeline stage: `make demo` shows it once)",
    )
    evaluate.set_defaults(handler=_run_evaluate)

    backtest = groups.add_parser(
        "backtest",
        epilog=EXAMPLES["backtest"],
        formatter_class=_ExamplesFormatter,
        help="replay a trained agent on a split, a walk-forward fold or new data, vs baselines",
        description=BACKTEST_DESCRIPTION,
    )
    backtest.add_argument(
        "model", metavar="MODEL", help="run folder, model zip, session id, or URI"
    )
    what = backtest.add_mutually_exclusive_group()
    what.add_argument("--split", choices=("val", "test"), help="a split of the run's dataset")
    what.add_argument(
        "--fold", type=whole_number, metavar="N", help="walk-forward fold N's test span"
    )
    what.add_argument("--data", metavar="CONFIG_OR_FILE", help="a raw data file or data config")
    backtest.add_argument("--start", help="--data: first bar replayed (timestamp; UTC if no zone)")
    backtest.add_argument("--end", help="--data: last bar replayed (timestamp)")
    backtest.add_argument(
        "--out", type=Path, help="output folder (default reports/backtests/<run>-<what>)"
    )
    policy = backtest.add_mutually_exclusive_group()
    policy.add_argument(
        "--deterministic", dest="deterministic", action="store_true", default=None,
        help="the most likely action (default: session.eval.deterministic)",
    )  # fmt: skip
    policy.add_argument(
        "--stochastic", dest="deterministic", action="store_false",
        help="actions sampled from the policy",
    )  # fmt: skip
    backtest.add_argument(
        "--baselines", help="comma-separated baseline names (default: session.eval.baselines)"
    )
    backtest.add_argument(
        "--random-runs", type=whole_number, metavar="N", help="runs of each random baseline"
    )
    backtest.add_argument("--no-plots", action="store_true", help="no equity.png")
    backtest.add_argument(
        "--allow-changed-data", action="store_true",
        help="replay a split even if the dataset is not the version trained on (a warning)",
    )  # fmt: skip
    backtest.add_argument("overrides", nargs="*", help="overrides of conf/qraptor.yaml")
    backtest.set_defaults(handler=_run_backtest)

    card = groups.add_parser(
        "card",
        epilog=EXAMPLES["card"],
        formatter_class=_ExamplesFormatter,
        help="(re)make a training run's model card (model_card.md) from its run folder",
        description=(
            "Write RUN_FOLDER/model_card.md and its training-curve figure from the run "
            "folder's files: data source, spans and dataset hash (data.json), code commit "
            "(provenance.json), config changes from conf/train.yaml's defaults, the "
            "validation and reward curves, every split's metrics with the Sharpe ratio's "
            "95 % interval next to the baselines, the verdict and the known limits. Training "
            "writes the card already; this remakes it. Needs config.yaml and metrics.json."
        ),
    )
    card.add_argument("run_folder", metavar="RUN_FOLDER", type=Path, help="a run folder")
    card.add_argument("--conf", type=Path, help="the conf/ whose defaults the config is diffed to")
    card.add_argument("--no-diff", action="store_true", help="no config diff (no conf/ needed)")
    card.add_argument("--print", action="store_true", help="also print the card on stdout")
    card.set_defaults(handler=_run_card)

    compare = groups.add_parser(
        "compare",
        epilog=EXAMPLES["compare"],
        formatter_class=_ExamplesFormatter,
        help="sessions, a sweep or an experiment side by side: stats across seeds, deflated "
        "Sharpe, offline HTML report",
        description="Compare sessions (ids or unique prefixes), a sweep (--sweep) or an "
        "experiment (--experiment) from the session store: runs with their config differences "
        "and metrics next to the baselines, mean/IQM with stratified-bootstrap CIs per group "
        "of seeds, and for a sweep the PSR and deflated Sharpe ratio of the best trial. Writes "
        "an HTML report (offline, no scripts). key=value items are overrides of "
        "conf/compare (split=test), conf/store (store.uri=...) or conf/ledger (ledger.*).",
    )
    compare.add_argument(
        "targets", nargs="*", help="session ids or prefixes, ledger trial ids, and overrides"
    )
    compare.add_argument("--sweep", help="a sweep id (sessions + ledger trials)")
    compare.add_argument("--experiment", help="an experiment name")
    compare.add_argument("--html", type=Path, help="report path (default: conf/compare report.dir)")
    compare.add_argument("--no-html", action="store_true", help="print the tables only")
    compare.add_argument(
        "--wide", action="store_true", help="every column, whatever the terminal's width"
    )
    compare.set_defaults(handler=_run_compare)

    study = groups.add_parser(
        "study",
        epilog=EXAMPLES["study"],
        formatter_class=_ExamplesFormatter,
        help="a purged walk-forward study: trials x folds x seeds, selection on the folds, "
        "the held-out test once, PBO, DSR and a verdict",
        description=STUDY_DESCRIPTION,
    )
    study.add_argument("--no-progress", action="store_true", help="no progress bar")
    study.add_argument(
        "overrides",
        nargs="*",
        help="overrides of conf/study.yaml (seeds=5, study=ppo_search, store.*) and, for "
        "experiment/session/algo/env/tracking keys, of the sessions' conf/train.yaml",
    )
    study.set_defaults(handler=_run_study)

    from qraptor.cli.serve import add_commands as add_service_commands

    add_service_commands(groups)  # serve store|mlflow, health SERVICE: the deployed stack

    dashboard = groups.add_parser(
        "dashboard",
        epilog=EXAMPLES["dashboard"],
        formatter_class=_ExamplesFormatter,
        help="web dashboard: data, the session queue (cancel/retry), results, comparisons",
        description="Serve the dashboard: DVC outputs of the project, sessions from MongoDB "
        "(QRAPTOR_MONGO_URI, store.uri, else the local server, started if needed), links to "
        "MLflow runs. Overrides of conf/store (store.database=...) may follow.",
    )
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on")
    dashboard.add_argument("--port", type=whole_number, default=8050, help="port (default 8050)")
    dashboard.add_argument("--project", type=Path, help="project root (default: the one of conf/)")
    dashboard.add_argument(
        "--mongo-uri", help="MongoDB URI without a password (wins over QRAPTOR_MONGO_URI[_FILE])"
    )
    dashboard.add_argument("--mlflow-uri", help="MLflow tracking URI for run lookups")
    dashboard.add_argument(
        "--mlflow-ui", default="http://127.0.0.1:5000", help="MLflow UI base URL for run links"
    )
    dashboard.add_argument("--no-db", action="store_true", help="data pages only, no database")
    dashboard.add_argument("overrides", nargs="*", help="overrides of conf/store")
    dashboard.set_defaults(handler=_run_dashboard)

    template = groups.add_parser(
        "plots-template",
        help="write the offline HTML template `dvc plots show` uses (vega inlined)",
        description="Write the HTML template `dvc plots show` renders into, with Vega, "
        "Vega-Lite and vega-embed inlined, so the plots open without a network (the "
        "plots_template stage of dvc.yaml).",
    )
    template.add_argument("--out", type=Path, required=True)
    template.set_defaults(handler=_run_plots_template)
    return parser


def _stage(
    stages: argparse._SubParsersAction,
    name: str,
    summary: str,
    paths: list[tuple[str, str]],
    handler: Callable[[argparse.Namespace, list[str]], None],
) -> argparse.ArgumentParser:
    sub = stages.add_parser(name, help=summary, description=f"{summary}. {OVERRIDES_HELP}.")
    for flag, text in paths:
        sub.add_argument(flag, type=Path, required=True, help=text)
    sub.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    sub.set_defaults(handler=handler)
    return sub


def _config(args: argparse.Namespace, extra: list[str]):  # -> PipelineConfig
    from qraptor.data.pipeline_config import load_pipeline_config

    return load_pipeline_config([*args.overrides, *extra])


def _run_raw(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_raw(_config(args, extra), args.out, args.metrics)


def _run_download(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_download(_config(args, extra), args.out, args.metrics)


def _run_ingest(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_ingest(_config(args, extra), args.raw, args.out)


def _run_clean(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_clean(_config(args, extra), getattr(args, "in"), args.out, args.metrics, args.work)


def _run_reduce(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_reduce(
        _config(args, extra),
        getattr(args, "in"),
        args.out,
        args.metrics,
        args.plot_csv,
        args.figure,
    )


def _run_features(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_features(_config(args, extra), getattr(args, "in"), args.out, args.metrics)


def _run_split(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_split(_config(args, extra), getattr(args, "in"), args.out, args.metrics, args.figure)


def _run_panel_raw(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_panel_raw(_config(args, extra), args.out, args.metrics)


def _run_panel_dataset(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import data_stages as stages

    stages.run_panel_dataset(_config(args, extra), args.raw, args.out, args.metrics)


def _run_db(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import db as db_cli
    from qraptor.store.config import load_store_config

    cfg = load_store_config([*args.overrides, *extra])
    if args.action == "status":  # exit 3 when it does not answer: `systemctl status`'s code
        text, answering = db_cli.db_status(cfg)
        print(text)
        if not answering:
            raise SystemExit(3)
        return
    action = {"start": db_cli.db_start, "stop": db_cli.db_stop}
    print(action[args.action](cfg))


def _run_worker(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import sessions as sessions_cli

    sessions_cli.worker(
        [*args.overrides, *extra],
        once=args.once,
        max_sessions=args.max_sessions,
        idle_exit=args.idle_exit,
        poll=args.poll,
        worker_id=args.worker_id,
    )


def _run_sessions(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli import sessions as cli

    overrides = [*args.overrides, *extra]
    if args.action == "submit":
        tags, attempts = args.tag, args.max_attempts
        print(cli.submit(overrides, priority=args.priority, tags=tags, max_attempts=attempts))
        return
    with cli.open_store(overrides) as store:
        if args.action == "list":
            table = cli.list_table(
                store, status=args.status, sweep=args.sweep, tag=args.tag, limit=args.limit
            )
            cli.stdout(wide=args.wide).print(table)
        elif args.action == "show":
            cli.stdout().print(cli.show(store, args.session))
        elif args.action == "cancel":
            print(cli.cancel(store, args.session))
        elif args.action == "retry":
            print(cli.retry(store, args.session, fresh=args.fresh))
        else:
            paths = cli.export(store, args.session, args.out, checkpoints=args.checkpoints)
            cli.print_export(paths)


def _run_evaluate(args: argparse.Namespace, extra: list[str]) -> None:

    from qraptor.core.log import console_for_stdout
    from qraptor.evaluation.report import read_dvc_metrics, summary_table, write_reports

    if extra:
        raise SystemExit(f"qraptor evaluate: unexpected arguments {extra}")
    if args.show:
        metrics = read_dvc_metrics(args.metrics)
    else:
        missing = [f"--{n}" for n in ("run", "plots", "figures") if getattr(args, n) is None]
        if missing:
            raise SystemExit(f"qraptor evaluate: {', '.join(missing)} needed (or --show)")
        metrics = write_reports(args.run, args.metrics, args.plots, args.figures, args.title)
        if args.brief:
            print(f"evaluated: {args.metrics} (the table: qraptor evaluate --metrics "
                  f"{args.metrics} --show)")  # fmt: skip
            return
    console_for_stdout().print(summary_table(metrics))  # stdout: the result, not a log


def _run_demo(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli.demo import run_demo
    from qraptor.core.log import console_for_stdout
    from qraptor.core.paths import project_root

    if extra:
        raise SystemExit(f"qraptor demo: unexpected arguments {extra}")
    run_demo(project_root(), console_for_stdout())


def _run_metrics(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.analysis.metrics_view import metrics_table
    from qraptor.analysis.project import project_paths
    from qraptor.core.log import console_for_stdout
    from qraptor.core.paths import project_root
    from qraptor.evaluation.report import read_dvc_metrics, summary_table

    if extra:
        raise SystemExit(f"qraptor metrics: unexpected arguments {extra}")
    paths = project_paths(project_root())
    out = console_for_stdout()
    out.print(metrics_table(paths.metrics))
    evaluation = paths.metrics / "evaluate.json"
    if evaluation.exists():
        out.print()
        out.print(summary_table(read_dvc_metrics(evaluation)))


def _run_backtest(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli.backtest import run

    run(args, extra)


def _run_card(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli.card import run

    if extra:
        raise QraptorError(f"qraptor card takes one RUN_FOLDER, not {' '.join(extra)}")
    run(args)


def _run_compare(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli.compare import run_compare

    items = [*args.targets, *extra]
    run_compare(
        [t for t in items if "=" not in t],
        sweep=args.sweep,
        experiment=args.experiment,
        html=args.html,
        write_html=not args.no_html,
        overrides=[t for t in items if "=" in t],
        wide=args.wide,
    )


def _run_study(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli.study import run

    run([*args.overrides, *extra], progress=not args.no_progress)


def _run_dashboard(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.cli.dashboard import run_dashboard

    run_dashboard(
        host=args.host,
        port=args.port,
        project=args.project,
        mongo_uri=args.mongo_uri,
        mlflow_uri=args.mlflow_uri,
        mlflow_ui=args.mlflow_ui,
        no_db=args.no_db,
        overrides=[*args.overrides, *extra],
    )


def _run_plots_template(args: argparse.Namespace, extra: list[str]) -> None:
    from qraptor.core.vega_offline import write_offline_template

    write_offline_template(args.out)


# Commands that end with nothing left to run: their exit skips the interpreter's teardown
# (~1 s: pymongo joins a monitor thread that sleeps 0.5 s, then ~2,000 modules are freed).
QUICK_EXIT = frozenset({"db", "sessions"})


def run() -> None:
    """The `qraptor` console script: `main`, then for the store commands an exit at once,
    once output and logs are flushed (they answer in well under a second instead of ~2 s)."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv[:1] and argv[0] in QUICK_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    sys.exit(main())
