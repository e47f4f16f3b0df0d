"""A trial function whose module takes a second to import (as a user's module that imports a
framework does), and that writes when its worker process had finished importing it:
``objective.function: tests.booting:objective`` with ``space.params.log_dir``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hpo import TrialContext

time.sleep(1.0)
IMPORTED_AT = time.time()


def objective(trial: TrialContext) -> None:
    log = Path(trial.params["log_dir"]) / f"{os.getpid()}.json"
    log.write_text(json.dumps({"pid": os.getpid(), "imported_at": IMPORTED_AT}))
    trial.report(1, {"val_accuracy": float(trial.params["x"])})
