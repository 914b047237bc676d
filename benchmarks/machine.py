"""What each benchmark records about the machine before and after it runs (a busy machine's
figures are noise: the load average says whether they were taken on a quiet one)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
    }


def finish(report: dict[str, Any], json_path: Path | None, advice: str) -> None:
    """Record the machine after the run, print how loaded it was around the figures (with
    `advice` on reading them), and write the report as JSON when asked."""
    report["machine_after"] = machine()
    print(
        f"\nload average before {report['machine_before']['load_average'][0]:.2f}, after "
        f"{report['machine_after']['load_average'][0]:.2f} ({os.cpu_count()} CPUs, shared): "
        f"{advice}"
    )
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures written to {json_path}")
