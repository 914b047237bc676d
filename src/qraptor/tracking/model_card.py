"""A model card per training run: what the model is, what it was trained on, how good the
evidence is, in Markdown, made from the run folder's files only (card_facts.py).

    write_model_card(run_dir, defaults)  ->  <run dir>/model_card.md (+ model_card_curve.png)

The card states the data source, spans and dataset hash (data.json), the code commit
(provenance.json), the config keys that differ from the defaults, the training curve (a
PNG next to the card and a compact table of validation.csv), the metrics of every split
with the Sharpe ratio's 95 % interval (evaluation.verdict.sharpe_uncertainty) next to the
baselines', the evaluation's verdict line, and the known limits (card_limits.py). It is
written by every training path (`qraptor train`, the queue worker), logged as an MLflow
artifact and as the registered version's description (truncated: `card_description`),
stored in GridFS with a worker's session, and remade by `qraptor card RUN_FOLDER`.

No clock and no host in the text: the same run folder gives the same card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from qraptor.core import layout
from qraptor.core.atomic import atomic_outputs
from qraptor.core.errors import QraptorError
from qraptor.core.formatting import MISSING, format_metric
from qraptor.core.log import get_logger
from qraptor.evaluation.baseline_names import baseline_label
from qraptor.evaluation.verdict import Verdict, sharpe_uncertainty
from qraptor.tracking.card_facts import RunFacts, config_diff, read_run_facts
from qraptor.tracking.card_limits import known_limits

log = get_logger(__name__)

TEMPLATE = "model_card.md.j2"
TEMPLATES = Path(__file__).with_name("templates")
TABLE_METRICS = ("sharpe", "total_return", "max_drawdown", "n_trades", "time_in_market")
VALIDATION_METRICS = ("sharpe", "total_return", "max_drawdown")
MAX_CURVE_ROWS = 12  # validation rows in the card's table (the figure has them all)
DESCRIPTION_LIMIT = 5000  # MLflow's limit on a model version's description (characters)


def write_run_card(run_dir: Path, defaults: Mapping[str, Any] | None) -> Path | None:
    """The card of a run just trained (`qraptor train`, the worker), its config diffed
    against `defaults` (card_facts.train_defaults, composed by the entry point; None: no
    diff). A card that cannot be made is logged, not raised: the session is trained and
    stored all the same, and `qraptor card` can make the card later. Its path, or None."""
    try:
        path = write_model_card(run_dir, defaults)
    except (QraptorError, OSError, ValueError) as exc:
        log.warning("no model card for %s: %s", run_dir, exc)
        return None
    log.info("model card: %s", path)
    return path


def write_model_card(run_dir: str | Path, defaults: Mapping[str, Any] | None) -> Path:
    """Write the card (and its curve figure) into `run_dir`, atomically; the card's path.

    `defaults`: the default train config (card_facts.default_train_config) the run's config
    is diffed against; None: the card says the defaults were not available."""
    run_dir = Path(run_dir)
    facts = read_run_facts(run_dir)
    curve = run_dir / layout.CARD_CURVE
    with atomic_outputs() as out:
        drawn = _write_curve(facts, out.path(curve))
        text = render_model_card(facts, defaults, curve_file=layout.CARD_CURVE if drawn else None)
        out.path(run_dir / layout.MODEL_CARD).write_text(text, encoding="utf-8")
    if not drawn:
        curve.unlink(missing_ok=True)  # a figure of an earlier card would be stale
    return run_dir / layout.MODEL_CARD


def render_model_card(
    facts: RunFacts, defaults: Mapping[str, Any] | None, curve_file: str | None = None
) -> str:
    """The card's Markdown (the template filled with the run's facts)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # Markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(TEMPLATE).render(card_context(facts, defaults, curve_file))


def card_description(text: str, artifact: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """The card as a registered model version's description: whole when it fits `limit`,
    else cut at the last paragraph (or line) that fits, with a pointer to the full card
    (`artifact`, e.g. ``runs:/<id>/model_card.md``)."""
    if len(text) <= limit:
        return text
    note = f"\n\n… (truncated; the full model card is the run's artifact {artifact})\n"
    room = max(limit - len(note), 0)
    cut = text[:room]
    for boundary in ("\n\n", "\n"):
        at = cut.rfind(boundary)
        if at > room // 2:
            cut = cut[:at]
            break
    return cut.rstrip() + note


def card_context(
    facts: RunFacts, defaults: Mapping[str, Any] | None, curve_file: str | None
) -> dict[str, Any]:
    """What the template prints: strings and small tables, formatted here (one place)."""
    session, algo = facts.session, dict(facts.config.get("algo") or {})
    uncertainty = _uncertainty(facts)
    diff = None if defaults is None else [c.line for c in config_diff(facts.config, defaults)]
    return {
        "title": f"{session.get('name', 'session')} ({algo.get('name', '?')}, "
        f"seed {session.get('seed', '?')})",
        "run_dir": facts.run_dir.name,
        "training": _training(facts, algo),
        "data": _data(facts),
        "code": _code(facts),
        "config_diff": diff,
        "curve_file": curve_file,
        "validation": _validation_table(facts),
        "reward": _reward_line(facts),
        "splits": [
            _split(facts, name, s, uncertainty.get(name)) for name, s in facts.splits.items()
        ],
        "limits": known_limits(facts, uncertainty),
        "periods_per_year": facts.periods_per_year,
    }


def _uncertainty(facts: RunFacts) -> dict[str, dict[str, Any]]:
    per_year = facts.periods_per_year
    if per_year is None:
        return {}
    return {
        split: sharpe_uncertainty(section.get("agent") or {}, per_year)
        for split, section in facts.splits.items()
    }


def _training(facts: RunFacts, algo: Mapping[str, Any]) -> dict[str, Any]:
    s, summary = facts.session, facts.summary
    selected = summary.get("selected") or {}
    chosen = selected.get("model", "final")
    if chosen == "best_val":
        validation = selected.get("validation") or {}
        chosen = (
            f"best_val: the best val {validation.get('metric', '?')} "
            f"({_fmt(validation.get('best_value'))}) of {validation.get('evaluations', '?')} "
            "evaluations"
        )
    return {
        "algo": algo.get("name", "?"),
        "timesteps": f"{int(summary.get('timesteps') or 0):,}",
        "total_timesteps": f"{int(s.get('total_timesteps') or 0):,}",
        "stopped_early": bool(summary.get("stopped_early")),
        "selected": chosen,
        "selected_timesteps": f"{int(selected.get('timesteps') or 0):,}" if selected else MISSING,
        "objective": f"{summary.get('objective_metric', '?')} = {_fmt(summary.get('objective'))}",
        "init_from": s.get("init_from"),
        "train_split": s.get("train_split", "train"),
        "fold": s.get("fold"),
    }


def _data(facts: RunFacts) -> dict[str, Any]:
    record = facts.record or {}
    pipeline = record.get("pipeline") or {}
    source = pipeline.get("data") or {}
    bars = record.get("bars") or {}
    version = record.get("dataset") or {}
    spans = [
        {"name": name, "first": span.get("first"), "last": span.get("last"),
         "rows": f"{int(span.get('rows') or 0):,}"}
        for name, span in (record.get("spans") or {}).items()
    ]  # fmt: skip
    kind = bars.get("kind")
    return {
        "recorded": bool(record),
        "name": source.get("name"),
        "source": source.get("source"),
        "kind": source.get("kind"),
        "bars": f"{kind} bars" + (f" ({bars['freq']})" if bars.get("freq") else "")
        if kind
        else None,
        "dataset": version.get("dataset") or facts.session.get("dataset"),
        "hash": version.get("hash"),
        "method": version.get("method"),
        "files": version.get("files"),
        "spans": spans,
        "observations": len((record.get("columns") or {}).get("observations") or []),
    }


def _code(facts: RunFacts) -> dict[str, Any]:
    code = facts.code or {}
    return {
        "recorded": bool(code),
        "commit": code.get("git_commit"),
        "dirty": code.get("git_dirty"),
    }


def _validation_table(facts: RunFacts) -> dict[str, Any] | None:
    rows = facts.validation
    if not rows:
        return None
    metric = facts.validation_metric
    columns = [metric, *(m for m in VALIDATION_METRICS if m != metric)]
    from qraptor.train.validation import best_row

    best = best_row(rows, metric)
    shown = _thin(rows, MAX_CURVE_ROWS, keep=best)
    return {
        "metric": metric,
        "columns": columns,
        "rows": [
            [
                f"{int(r['timesteps']):,}",
                *(format_metric(c, r.get(c)) for c in columns),
                "best" if r is best else "",
            ]
            for r in shown
        ],
        "count": len(rows),
        "shown": len(shown),
    }


def _thin(
    rows: Sequence[dict[str, float]], most: int, keep: dict[str, float] | None
) -> list[dict[str, float]]:
    """At most `most` rows, evenly spaced, the first, the last and `keep` always among them."""
    if len(rows) <= most:
        return list(rows)
    step = (len(rows) - 1) / (most - 1)
    picked = {round(i * step) for i in range(most)}
    if keep is not None:
        picked.add(next(i for i, r in enumerate(rows) if r is keep))
    return [rows[i] for i in sorted(picked)]


def _reward_line(facts: RunFacts) -> str | None:
    if not facts.reward:
        return None
    first, last = facts.reward[0], facts.reward[-1]
    high = max(facts.reward, key=lambda p: p[1])
    return (
        f"mean episode reward {first[1]:.4g} at {first[0]:,} timesteps, {last[1]:.4g} at "
        f"{last[0]:,} (highest {high[1]:.4g} at {high[0]:,})"
    )


def _split(
    facts: RunFacts, name: str, section: Mapping[str, Any], u: Mapping[str, Any] | None
) -> dict[str, Any]:
    agent = section.get("agent") or {}
    rows = [["**agent**", *(format_metric(m, agent.get(m)) for m in TABLE_METRICS)]]
    for baseline, metrics in (section.get("baselines") or {}).items():
        rows.append(
            [baseline_label(baseline), *(format_metric(m, metrics.get(m)) for m in TABLE_METRICS)]
        )
    verdict = section.get("verdict")
    text = Verdict.from_dict(name, verdict).text if isinstance(verdict, Mapping) else None
    share = section.get("agent_beats_random_share")
    interval = None
    if u and u.get("sharpe_low") is not None and u.get("sharpe_high") is not None:
        interval = (
            f"{format_metric('sharpe', agent.get('sharpe'))} "
            f"({float(u['confidence']):.0%} interval {format_metric('sharpe', u['sharpe_low'])} "
            f"to {format_metric('sharpe', u['sharpe_high'])}; PSR(0) {_probability(u.get('psr'))})"
        )
    return {
        "name": name,
        "columns": list(TABLE_METRICS),
        "rows": rows,
        "sharpe": interval,
        "beats_random": None if share is None else f"{float(share):.0%}",
        "random_runs": len(section.get("random_sharpes") or []),
        "verdict": text,
    }


def _fmt(value: Any) -> str:
    """A figure without a unit of its own (an objective, a PSR): 4 significant digits."""
    if value is None:
        return MISSING
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.4g}"
    return str(value)


def _probability(value: Any) -> str:
    """A PSR as the verdict line prints one: two decimals."""
    return f"{value:.2f}" if isinstance(value, int | float) else MISSING


def _write_curve(facts: RunFacts, path: Path) -> bool:
    """The training-curve figure into `path`: the validation metric (and the training
    reward, when SB3 logged it) over timesteps. False when the run recorded neither."""
    if not facts.validation and not facts.reward:
        return False
    import matplotlib.pyplot as plt

    from qraptor.data.plots import save_figure

    panels = [
        p for p, points in (("validation", facts.validation), ("reward", facts.reward)) if points
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "validation":
            assert facts.validation is not None
            metric = facts.validation_metric
            steps = [r["timesteps"] for r in facts.validation]
            ax.plot(steps, [r[metric] for r in facts.validation], marker="o", color="#c75b12")
            ax.set_ylabel(f"val {metric}")
            ax.set_title("in-training validation")
        else:
            ax.plot(*zip(*facts.reward, strict=True), color="#1f4e79", linewidth=1.3)
            ax.set_ylabel("mean episode reward")
            ax.set_title("training reward")
        ax.set_xlabel("timesteps")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    return True


__all__ = [
    "card_description",
    "read_run_facts",
    "render_model_card",
    "write_model_card",
    "write_run_card",
]
