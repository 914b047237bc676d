"""What a model card prints, formatted once: the template (templates/model_card.md.j2) gets
strings and small tables, never raw numbers, so a Sharpe ratio in the card reads as it
does in every other report (core.formatting.format_metric) and the verdict line is the
evaluation's own (evaluation.verdict)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qraptor.core.formatting import MISSING, format_metric
from qraptor.evaluation.baseline_names import baseline_label
from qraptor.evaluation.verdict import Verdict, sharpe_uncertainty
from qraptor.tracking.card_facts import RunFacts, config_diff
from qraptor.tracking.card_limits import known_limits
from qraptor.train.validation import best_row

TABLE_METRICS = ("sharpe", "total_return", "max_drawdown", "n_trades", "time_in_market")
VALIDATION_METRICS = ("sharpe", "total_return", "max_drawdown")
MAX_CURVE_ROWS = 12  # validation rows in the card's table (the figure has them all)


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
        "instruments": len(record.get("instruments") or []),  # a portfolio's; 0: one
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
