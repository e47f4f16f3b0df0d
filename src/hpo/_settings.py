"""Settings resolved in one place: CLI flag > environment (HPO_*) > sweep file > default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hpo.config import Sweep, load_sweep

# sweep key -> environment variable that may set it
_ENVIRONMENT = {"storage": "HPO_STORAGE", "results_dir": "HPO_RESULTS_DIR", "resources.address": "RAY_ADDRESS"}


def resolve_sweep(path: Path | str | Sweep, **flags: Any) -> Sweep:
    """Load ``path`` (or take a ``Sweep`` built in code) and apply environment, then flag
    overrides (dotted keys); validated again."""
    sweep = path if isinstance(path, Sweep) else load_sweep(path)
    updates: dict[str, Any] = {}
    for key, variable in _ENVIRONMENT.items():
        if os.environ.get(variable):
            updates[key] = os.environ[variable]
    updates.update({k: v for k, v in flags.items() if v is not None})
    return sweep.with_overrides(**updates) if updates else sweep
