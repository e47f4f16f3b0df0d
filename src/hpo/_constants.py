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
PARETO_JSON = "pareto.json"
FRONT_DIR = "front"  # front/trial_<n>.keras with `hpo run --save front`
CHECKPOINTS_DIR = "checkpoints"  # checkpoints/trial_<n>.ckpt: paused trials (promotion) and periodic checkpoints
RESOLVED_SWEEP = "sweep.resolved.yaml"
REPORT_HTML = "report.html"
TENSORBOARD_DIR = "tensorboard"  # tracking.tensorboard: per-trial event files and the HParams records

# JAX's persistent compilation cache in trial workers: where (this environment variable names a
# folder, or "off"; by default a folder per user in the node's temp dir) and how large it may grow
# (JAX deletes the least recently used entries beyond it).
ENV_JAX_CACHE = "HPO_JAX_CACHE_DIR"
JAX_CACHE_MAX_BYTES = 2 * 1024**3

# Study / trial attributes written by hpo.
ATTR_SPACE_FINGERPRINT = "hpo:space_fingerprint"
ATTR_SPACE = "hpo:space"  # the space a study was created with (SearchSpace.to_dict), to say what changed
ATTR_CARRIED_FROM = "hpo:carried_from"  # {study, trial}: a finished trial carried into a new study
ATTR_CARRIED = "hpo:carried"  # on the new study: {from, carried, incompatible: [[trial, reason], ...]}
ATTR_SWEEP_NAME = "hpo:sweep"
ATTR_FAIL_REASON = "hpo:fail_reason"
ATTR_RETRY_OF = "hpo:retry_of"
ATTR_EPOCHS = "hpo:epochs"
ATTR_ATTEMPT = "hpo:attempt"
ATTR_RUN = "hpo:run"
ATTR_METRICS = "hpo:val_metrics"  # the last epoch's reported metrics (name kept for existing studies)
ATTR_PLACEMENT = "hpo:placement"
ATTR_WHOLE_GPU = "hpo:whole_gpu"  # a retry that runs on a whole GPU after running out of memory on a share
ATTR_OOM_ATTEMPT = "hpo:oom_attempt"
# A trial cut short by something outside it (its driver killed or stopped, its worker or node lost):
# FAIL in the study with this attribute true and its reason, and its configuration queued again
# (linked by ATTR_RETRY_OF) without using up budget.max_retries; ATTR_INTERRUPTIONS counts the
# interruptions of one configuration in a row, up to budget.max_interruptions.
ATTR_INTERRUPTED = "hpo:interrupted"
ATTR_INTERRUPTIONS = "hpo:interruptions"
MAX_INTERRUPTIONS = 10
ATTR_CHECKPOINT_EPOCH = "hpo:checkpoint_epoch"  # the epoch of the trial's last periodic checkpoint
ATTR_RESUMED_FROM = "hpo:resumed_from"  # [trial, epoch]: an interrupted trial's run that continued its checkpoint
# {top_k, seeds, rule, single_run_best, selected, differs, candidates, test, model_seed, trial_seconds}:
# the finish's re-trainings of the top candidates (results/_finish.py), never trials of the search
ATTR_FINISH = "hpo:finish"
ATTR_STOPPED_EARLY = "hpo:stopped_early"
# {trial: {seeds: [offset, ...], values: [the search's value, then one per offset], failed?: reason}}:
# the seed noise budget.stop_when.noise_seeds measured on incumbents (not trials of the search)
ATTR_NOISE = "hpo:noise"  # {reason, saved_trials}: budget.stop_when ended the search
ATTR_PAUSED = "hpo:paused"  # the epoch a trial paused after (it stays RUNNING in the study); null once it continues
# The rung epoch a promoted trial continues from (its checkpoint's): a later run's recovery sends it
# back to paused there when its driver died during the continuation.
ATTR_CONTINUES_FROM = "hpo:continues_from"
ATTR_RUN_OVERRIDES = "hpo:run_overrides"  # the last run's command-line settings, reapplied by `hpo resume`

# Settings a run's flags may override that `hpo resume` carries over to the resumed run.
RUN_OVERRIDE_KEYS = (
    "budget.trials",
    "budget.timeout",
    "resources.concurrency",
    "resources.gpus_per_trial",
    "sampler.seed",
    "tracking.mlflow.uri",
    "finish",
    "tracking.tensorboard",
)

# Samplers and pruners a sweep may name, and the Optuna class each one builds.
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
    "qmc": "QMCSampler",
    "grid": "GridSampler",
    "nsga2": "NSGAIISampler",
    "nsga3": "NSGAIIISampler",
}
# Those that can optimize several goals at once (Optuna's CMA-ES cannot).
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "random", "gp", "qmc", "grid", "nsga2", "nsga3")
PRUNERS = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "patient": "PatientPruner",
    "wilcoxon": "WilcoxonPruner",
    "threshold": "ThresholdPruner",
    "none": "NopPruner",
    # Promotion schedulers (hpo.study.Promotion): trials pause at rungs and the best continue from
    # their checkpoints; Optuna's pruner under them never stops a trial.
    "asha": "NopPruner",
    "async_hyperband": "NopPruner",
}
PROMOTION_SCHEDULERS = ("asha", "async_hyperband")
# Those hpo can apply to one metric of a multi-objective study (hyperband and wilcoxon read the
# study's single best trial or direction in ways a multi-objective study cannot give them).
MULTI_OBJECTIVE_PRUNERS = ("median", "percentile", "successive_halving", "patient", "threshold", "none")

# Data sources a sweep may name besides a user loader: bundled or generated sets, and files.
BUILTIN_DATASETS = ("digits", "breast_cancer", "diabetes", "synthetic")
FILE_DATASETS = ("npz", "csv", "image_folder")

# Metrics every built-in trial reports on the validation split each epoch, by task.
VALIDATION_METRICS = (
    "val_loss",
    "val_accuracy",
    "val_precision",
    "val_recall",
    "val_f1",
    "val_auc",
)
REGRESSION_METRICS = ("val_loss", "val_mse", "val_mae", "val_r2")
# What the built-in trainer measures about each model, for multi-objective sweeps and constraints:
# parameter count, median inference latency (batch 1 and the evaluation batch), training seconds
# per epoch, peak resident host memory of the trial's process.
EFFICIENCY_METRICS = ("params", "latency_ms", "latency_batch_ms", "epoch_seconds", "peak_memory_mb")
BUILTIN_TASKS = {"digits": "classification", "breast_cancer": "classification", "diabetes": "regression"}

# Driver liveness: how often a driver writes its heartbeat, and after how long without one a
# driver on another host counts as dead (its RUNNING trials are then recovered).
HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0
# The storage-wide lock held while a driver decides which trials exist and who runs them: asking a
# trial and naming its driver (the budget), promoting a paused one, recovering a dead driver's.
TRIALS_LOCK = "budget"
# An elastic cluster: how often the pool asks Ray whether nodes joined while some of its workers are
# retired (lost capacity), and how long it sleeps between looks while it has no worker at all.
CAPACITY_CHECK_S = 5.0
# Many slots on few CPUs: past this many worker processes per CPU of the cluster, hpo suggests
# resources.trials_per_worker for a trial function (each Ray worker process costs CPU to start and
# while it waits), one that brings it to SHARED_PROCESSES_PER_CPU (benchmarks/throughput.py: 64 slots
# on 2 CPUs, 4 processes of 16 trials, within 4% of the floor; 64 processes, 3-5x the floor).
WORKER_PROCESSES_PER_CPU_HINT = 4
SHARED_PROCESSES_PER_CPU = 2
# Storage outages (a database restarting, a journal's disk full for a moment): the driver retries
# each storage call with backoff from STORAGE_RETRY_FIRST_S, doubling up to STORAGE_RETRY_MAX_S,
# for at most recovery.storage_outage_s (STORAGE_OUTAGE_S by default), then stops; resume continues.
STORAGE_OUTAGE_S = 120.0
STORAGE_RETRY_FIRST_S = 0.5
STORAGE_RETRY_MAX_S = 8.0
STARVED_WAIT_S = 0.5
# A space parameter that this many finished trials had in their configuration and none of them read
# is reported then, not only at the end of the run (code that reads a parameter only in some
# configurations, e.g. `filters` only when `n_conv > 0`, reads it in some of them).
UNREAD_WARN_AFTER_TRIALS = 10

# On Ctrl+C or SIGTERM the driver first reads what the workers already sent (reports, checkpoints,
# ends) for at most this long, then interrupts the trials still running.
INTERRUPT_DRAIN_S = 2.0

# After each report a trial waits for the driver's answer (go on, or stop: pruned) before its next
# epoch, so that a pruned trial stops at once rather than after the next epoch's first steps; at
# most this share of the time since its last report, and never longer than the cap, so that a busy
# driver costs a trial no more than that share. No wait when the share is under the minimum (reports
# more often than every 0.2 s): the answer (a few ms) would rarely come in time, and going on
# until the stop arrives then costs less than that interval.
ANSWER_WAIT_SHARE = 0.05
ANSWER_WAIT_MAX_S = 0.25
ANSWER_WAIT_MIN_S = 0.01
# With a promotion scheduler, after the report at its rung a trial waits for the driver's answer
# (pause, or go on to the next rung when the scheduler would promote it at once) up to this long;
# without an answer by then it pauses.
RUNG_ANSWER_WAIT_S = 10.0
# After a periodic checkpoint (trial.save) a sweep's trial waits until the driver says it keeps it,
# so that a worker or node lost later costs at most the epochs since a checkpoint the driver holds
# (however far the driver lags behind its workers). At most this long: a driver that has not kept
# it by then is stuck elsewhere, and the trial trains on rather than hang.
CHECKPOINT_KEPT_WAIT_S = 600.0
# When a node is lost, what its other trials' workers sent before the loss is read first; an item
# left in the lost node's object store (a big checkpoint) is given up after this long.
LOST_NODE_READ_S = 5.0
