"""The model card's figure: the training curve a reader looks at before the tables."""

from __future__ import annotations

from pathlib import Path

from qraptor.tracking.card_facts import RunFacts


def write_curve(facts: RunFacts, path: Path) -> bool:
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
