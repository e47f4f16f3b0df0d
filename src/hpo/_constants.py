"""Names and defaults used across hpo, defined once."""

from __future__ import annotations

# Exit codes of the CLI.
EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl+C, as shells report it

# Results folder layout: results/<sweep>/<file>.
DEFAULT_RESULTS_DIR = "results"
JOURNAL_FILE = "study.journal"
TRIALS_CSV = "trials.csv"
TRIALS_PARQUET = "trials.parquet"
BEST_JSON = "best.json"
BEST_MODEL = "best_model.keras"
RESOLVED_SWEEP = "sweep.resolved.yaml"
REPORT_HTML = "report.html"

# Study / trial attributes written by hpo.
ATTR_SPACE_FINGERPRINT = "hpo:space_fingerprint"
ATTR_SWEEP_NAME = "hpo:sweep"
ATTR_FAIL_REASON = "hpo:fail_reason"
ATTR_RETRY_OF = "hpo:retry_of"
ATTR_EPOCHS = "hpo:epochs"
ATTR_ATTEMPT = "hpo:attempt"
ATTR_RUN = "hpo:run"
ATTR_METRICS = "hpo:val_metrics"

# Result key a worker uses to say "this configuration failed" (with the reason as its value).
FAIL_REASON_KEY = "hpo_fail_reason"

# Metrics every built-in trial reports on the validation split each epoch.
VALIDATION_METRICS = (
    "val_loss",
    "val_accuracy",
    "val_precision",
    "val_recall",
    "val_f1",
    "val_auc",
)

# The default sweep the README runs.
DEFAULT_SWEEP = "sweeps/digits_cnn.yaml"
