"""A model card per training run: what the model is, what it was trained on, how good the
evidence is, in Markdown, made from the run folder's files only (card_facts.py).

    write_model_card(run_dir, defaults)  ->  <run dir>/model_card.md (+ model_card_curve.png)

The card states the data source, spans and dataset hash (data.json), the code commit
(provenance.json), the config keys that differ from the defaults, the training curve (a
PNG next to the card and a compact table of validation.csv), the metrics of every split
with the Sharpe ratio's 95 % interval (evaluation.verdict.sharpe_uncertainty) next to the
baselines', the evaluation's verdict line, and the known limits (card_limits.py). It is
written by every training path (`qraptor train`, the queue worker, a study), logged as an MLflow
artifact and as the registered version's description (truncated: `card_description`),
stored in GridFS with a worker's session, and remade by `qraptor card RUN_FOLDER`.

No clock and no host in the text: the same run folder gives the same card.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from qraptor.core import layout
from qraptor.core.atomic import atomic_outputs
from qraptor.core.errors import QraptorError
from qraptor.core.log import get_logger
from qraptor.tracking.card_context import card_context
from qraptor.tracking.card_facts import RunFacts, read_run_facts
from qraptor.tracking.card_figure import write_curve

log = get_logger(__name__)

TEMPLATE = "model_card.md.j2"
TEMPLATES = Path(__file__).with_name("templates")
DESCRIPTION_LIMIT = 5000  # MLflow's limit on a model version's description (characters)


def write_run_card(run_dir: Path, defaults: Mapping[str, Any] | None) -> Path | None:
    """The card of a run just trained (`qraptor train`, the worker), its config diffed
    against `defaults` (card_facts.train_defaults, composed by the entry point; None: no
    diff). A card that cannot be made, for whatever reason (a file of an unexpected shape,
    a full disk, a bug), is logged, not raised: the session is trained and stored all the
    same, and `qraptor card` can make the card later. Its path, or None."""
    try:
        path = write_model_card(run_dir, defaults)
    except QraptorError as exc:
        log.warning("no model card for %s: %s", run_dir, exc)
        return None
    except Exception:  # documentation must not fail a trained session: say why, go on
        log.exception("no model card for %s (qraptor card %s retries it)", run_dir, run_dir)
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
        drawn = write_curve(facts, out.path(curve))
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


__all__ = [
    "card_description",
    "read_run_facts",
    "render_model_card",
    "write_model_card",
    "write_run_card",
]
