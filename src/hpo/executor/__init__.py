"""Parallel sweeps: an Optuna study owned by the driver, trials executed by Ray Tune."""

from hpo.executor._run import SweepOutcome, check_data, run_sweep
from hpo.executor._study import load_existing_study, open_study, study_names

__all__ = ["SweepOutcome", "check_data", "load_existing_study", "open_study", "run_sweep", "study_names"]
