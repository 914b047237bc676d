"""What each benchmark records about the machine before and after it runs (a busy machine's
figures are noise: the load average says whether they were taken on a quiet one)."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
    }
