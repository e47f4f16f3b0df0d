"""Mutation check: does the fast test lane catch wrong code in the modules that decide a trial's fate?

Each mutation below is one small, plausible mistake (a flipped comparison, a dropped check, a
swapped direction, an off-by-one) in the lifecycle, launcher, pruning, promotion, recovery, best
trial, storage URL, search space, metrics or trial modules. For each, the script applies it to a
copy of the repository (the working tree is never touched), runs that module's tests from the fast
lane (`-m "not slow"`), and counts the mutation as caught when a test fails. It prints a table, the
score and the survivors.

    .venv/bin/python tools/mutation.py            # every mutation (about 5 minutes on 2 cores)
    .venv/bin/python tools/mutation.py -k prune   # only mutations whose id contains "prune"
    .venv/bin/python tools/mutation.py --json out.json

docs/mutation.md records the last full run and why each survivor survives.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("src", "tests", "sweeps", "search_spaces", "examples", "pyproject.toml")


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # under src/hpo/
    original: str  # must occur exactly once in the file
    mutated: str
    tests: tuple[str, ...]  # test files (under tests/) that guard this code


LIFECYCLE_TESTS = ("test_lifecycle.py", "test_promotion.py")
LAUNCH_TESTS = ("test_lifecycle.py", "test_promotion.py", "test_spent.py")
PRUNE_TESTS = ("test_optuna_contract.py", "test_lifecycle.py")
PROMOTION_TESTS = ("test_promotion.py", "test_optuna_contract.py")
RECOVERY_TESTS = ("test_promotion.py", "test_lifecycle.py", "test_recovery.py")
BEST_TESTS = ("test_lifecycle.py", "test_multi_objective.py", "test_spent.py")
URL_TESTS = ("test_settings.py",)
SPACE_TESTS = ("test_space.py", "test_space_properties.py", "test_space_cli.py")
METRICS_TESTS = ("test_metrics.py",)
FINISH_TESTS = ("test_finish.py",)
TRIAL_TESTS = ("test_trial_answers.py",)
CHECKPOINT_TESTS = ("test_periodic_checkpoints.py", "test_checkpoint_store.py", "test_promotion.py")
STORAGE_TESTS = ("test_disk_full.py", "test_storage_lock.py", "test_storage_outage.py")
LOOP_TESTS = ("test_stop_rules.py", "test_carry_over.py")

MUTATIONS = [
    # -- executor/_lifecycle.py: the state machine that tells the study each trial's end
    Mutation(
        "lifecycle.trained_off_by_one",
        "executor/_lifecycle.py",
        "trained = epoch >= self.rules.max_epochs",
        "trained = epoch > self.rules.max_epochs",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.prune_ignored",
        "executor/_lifecycle.py",
        "        if prune:\n            self._tell(number, TrialState.PRUNED)",
        "        if False:\n            self._tell(number, TrialState.PRUNED)",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.nan_objective_allowed",
        "executor/_lifecycle.py",
        "        if not finite(value):\n            self._fail(",
        "        if False:\n            self._fail(",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.feasible_strict",
        "executor/_lifecycle.py",
        "violation is not None and violation <= 0",
        "violation is not None and violation < 0",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.missing_metric_feasible",
        "executor/_lifecycle.py",
        "violation is not None and violation <= 0",
        "(violation is None or violation <= 0)",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.target_ignores_feasibility",
        "executor/_lifecycle.py",
        "if feasible and self.rules.target is not None",
        "if self.rules.target is not None",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.success_keeps_failure_count",
        "executor/_lifecycle.py",
        '        self.counts["complete"] += 1\n        self.consecutive_failures = 0',
        '        self.counts["complete"] += 1',
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.failure_limit_off_by_one",
        "executor/_lifecycle.py",
        "if self.consecutive_failures >= limit:",
        "if self.consecutive_failures > limit:",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.interruption_counts_as_a_failure_in_a_row",
        "executor/_lifecycle.py",
        '        if failure is None:\n            self.counts["interrupted"] += 1',
        "        if failure is None:\n"
        "            self.consecutive_failures += 1\n"
        '            self.counts["interrupted"] += 1',
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.ctrl_c_fails_instead_of_interrupting",
        "executor/_lifecycle.py",
        'self._interrupt(number, "the sweep was interrupted before this trial ended")',
        'self._fail(number, "the sweep was interrupted before this trial ended", retryable=True, counted=False)',
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.late_report_accepted",
        "executor/_lifecycle.py",
        "        live = self._live.get(number)\n        if live is None:\n            return False\n"
        "        live.epochs, live.metrics",
        "        live = self._live.get(number)\n        if live is None:\n            return True\n"
        "        live.epochs, live.metrics",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.oom_retry_unbounded",
        "executor/_lifecycle.py",
        "tries < self.rules.max_oom_retries",
        "tries <= self.rules.max_oom_retries",
        LIFECYCLE_TESTS,
    ),
    Mutation(
        "lifecycle.abort_retries_live_trials",
        "executor/_lifecycle.py",
        "retryable=retryable and self.abort_reason is None",
        "retryable=retryable",
        LIFECYCLE_TESTS,
    ),
    # -- executor/_launch.py: whether the next trial may start
    Mutation(
        "launch.budget_off_by_one",
        "executor/_launch.py",
        "return cap is not None and count.trials >= cap and count.spent >= cap",
        "return cap is not None and count.trials > cap and count.spent > cap",
        LAUNCH_TESTS,
    ),
    Mutation(
        "launch.retried_failure_counted_twice",
        "executor/_launch.py",
        "return cls(len(trials), counted - sum(number in retried for number in failed), waiting)",
        "return cls(len(trials), counted, waiting)",
        LAUNCH_TESTS,
    ),
    Mutation(
        "launch.queued_ignores_budget_rule",
        "executor/_launch.py",
        "    if count.waiting:\n        return False\n    if grid_exhausted(study):",
        "    if grid_exhausted(study):",
        LAUNCH_TESTS,
    ),
    Mutation(
        "launch.no_startup_hold",
        "executor/_launch.py",
        "return not self._past_startup and self._startup_trials <= count.spent",
        "return False",
        LAUNCH_TESTS,
    ),
    Mutation(
        "launch.timeout_ignored",
        "executor/_launch.py",
        "return self._deadline is not None and self._clock() >= self._deadline",
        "return False",
        LAUNCH_TESTS,
    ),
    Mutation(
        "launch.stopping_ignored",
        "executor/_launch.py",
        "if lifecycle.stopping or self.out_of_time():",
        "if self.out_of_time():",
        LAUNCH_TESTS,
    ),
    # -- study/_prune.py: the pruner's view of a study
    Mutation(
        "prune.direction_swapped",
        "study/_prune.py",
        'StudyDirection.MAXIMIZE if direction == "maximize" else StudyDirection.MINIMIZE',
        'StudyDirection.MINIMIZE if direction == "maximize" else StudyDirection.MAXIMIZE',
        PRUNE_TESTS,
    ),
    Mutation("prune.decide_ignored", "study/_prune.py", "return decide and bool(", "return bool(", PRUNE_TESTS),
    # -- study/_promotion.py: ASHA's rule
    Mutation(
        "promotion.wrong_order",
        "study/_promotion.py",
        "reverse=self.maximize",
        "reverse=not self.maximize",
        PROMOTION_TESTS,
    ),
    Mutation(
        "promotion.top_fraction_too_wide",
        "study/_promotion.py",
        "reached[: len(reached) // self.reduction_factor]",
        "reached[: len(reached) // self.reduction_factor + 1]",
        PROMOTION_TESTS,
    ),
    Mutation(
        "promotion.lowest_rung_first",
        "study/_promotion.py",
        "for k in range(len(rungs) - 2, -1, -1):",
        "for k in range(len(rungs) - 1):",
        PROMOTION_TESTS,
    ),
    Mutation(
        "promotion.paused_not_pruned_for_sampler",
        "study/_promotion.py",
        "                trial.state = TrialState.PRUNED\n",
        "",
        PROMOTION_TESTS,
    ),
    Mutation(
        "promotion.paused_when_not_running",
        "study/_promotion.py",
        "if trial.state == TrialState.RUNNING and epoch else None",
        "if epoch else None",
        PROMOTION_TESTS,
    ),
    # -- study/_recovery.py: trials a dead driver left RUNNING
    Mutation(
        "recovery.paused_failed",
        "study/_recovery.py",
        "if paused_at(trial) is not None or driver_alive(",
        "if driver_alive(",
        RECOVERY_TESTS,
    ),
    Mutation(
        "recovery.never_runs_again",
        "study/_recovery.py",
        "                max_interruptions,\n",
        "                0,\n",
        RECOVERY_TESTS,
    ),
    Mutation(
        "retry.max_interruptions_off_by_one",
        "study/_retry.py",
        "again = count <= max_interruptions",
        "again = count < max_interruptions",
        RECOVERY_TESTS,
    ),
    # -- study/_best.py: the best trial and the front
    Mutation(
        "best.infeasible_allowed",
        "study/_best.py",
        "feasible = [t for t in complete if is_feasible(t)]",
        "feasible = complete",
        BEST_TESTS,
    ),
    Mutation(
        "best.feasible_strict",
        "study/_best.py",
        "return all(value <= 0 for value in trial.constraints.values())",
        "return all(value < 0 for value in trial.constraints.values())",
        BEST_TESTS,
    ),
    Mutation(
        "best.direction_swapped",
        "study/_best.py",
        "(max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min)(values)",
        "(min if study.direction == optuna.study.StudyDirection.MAXIMIZE else max)(values)",
        BEST_TESTS,
    ),
    Mutation(
        "best.watched_goal_direction",
        "study/_best.py",
        "return (max if maximize else min)(front, key=",
        "return (min if maximize else max)(front, key=",
        BEST_TESTS,
    ),
    # -- storage/_url.py: credentials never printed
    Mutation(
        "url.query_keys_cut",
        "storage/_url.py",
        "(?:password|passwd|pwd|sslpassword|token|secret)",
        "(?:password|passwd)",
        URL_TESTS,
    ),
    Mutation(
        "url.case_sensitive",
        "storage/_url.py",
        '_QUERY_SECRET = re.compile(r"(?i)',
        '_QUERY_SECRET = re.compile(r"',
        URL_TESTS,
    ),
    Mutation(
        "url.first_at",
        "storage/_url.py",
        "(?P<password>.*)@(?P<host>[^@]*)$",
        "(?P<password>[^@]*)@(?P<host>.*)$",
        URL_TESTS,
    ),
    # -- space/_params.py and space/_space.py: what a configuration may be
    Mutation(
        "space.bool_is_int",
        "space/_params.py",
        "    if isinstance(a, bool) or isinstance(b, bool):\n        return type(a) is type(b) and a == b\n",
        "",
        SPACE_TESTS,
    ),
    Mutation(
        "space.float_bounds_open",
        "space/_params.py",
        "        if not self.low <= value <= self.high:\n            return False\n        if self.step is None:",
        "        if not self.low < value < self.high:\n            return False\n        if self.step is None:",
        SPACE_TESTS,
    ),
    Mutation(
        "space.condition_above_inclusive",
        "space/_params.py",
        "return value > self.above",
        "return value >= self.above",
        SPACE_TESTS,
    ),
    Mutation(
        "space.inactive_param_accepted",
        "space/_space.py",
        "                if not active:\n                    reasons.append(",
        "                if False:\n                    reasons.append(",
        SPACE_TESTS,
    ),
    # -- engine/_metrics.py: the validation metrics every decision rests on
    Mutation(
        "metrics.labels_from_truth_only",
        "engine/_metrics.py",
        "labels = np.union1d(y_true, y_pred)",
        "labels = np.unique(y_true)",
        METRICS_TESTS,
    ),
    Mutation(
        "metrics.recall_uses_fp",
        "engine/_metrics.py",
        "r = tp / (tp + fn) if tp + fn else 0.0",
        "r = tp / (tp + fp) if tp + fp else 0.0",
        METRICS_TESTS,
    ),
    Mutation(
        "metrics.auc_flipped",
        "engine/_metrics.py",
        "auc = _binary_auc(y_true == 1, probs[:, 1])",
        "auc = _binary_auc(y_true == 0, probs[:, 1])",
        METRICS_TESTS,
    ),
    Mutation(
        "metrics.regression_r2_sign",
        "engine/_metrics.py",
        "r2 = 1.0 - float(np.sum(error**2)) / total",
        "r2 = float(np.sum(error**2)) / total",
        METRICS_TESTS,
    ),
    # -- _trial.py: what a trial sees
    Mutation(
        "trial.stop_check_dropped",
        "_trial.py",
        "        if self.should_stop:\n"
        '            raise TrialStopped(f"trial {self.number} was stopped by the sweep")\n'
        "        if isinstance(epoch, bool)",
        "        if isinstance(epoch, bool)",
        TRIAL_TESTS,
    ),
    Mutation(
        "trial.epochs_may_repeat", "_trial.py", "epoch <= self._last_epoch", "epoch < self._last_epoch", TRIAL_TESTS
    ),
    Mutation(
        "trial.waits_on_last_epoch", "_trial.py", "or epoch >= self.epochs:", "or epoch > self.epochs:", TRIAL_TESTS
    ),
    Mutation(
        "trial.no_minimum_wait",
        "_trial.py",
        "elif budget >= _constants.ANSWER_WAIT_MIN_S:",
        "elif budget > 0:",
        TRIAL_TESTS,
    ),
    # -- periodic checkpoints: kept for an interrupted trial's re-run, handed over, dropped at the end
    Mutation(
        "checkpoints.interrupted_drops_its_checkpoint",
        "executor/_lifecycle.py",
        "live = self._tell(number, TrialState.FAIL, keep_checkpoint=True)",
        "live = self._tell(number, TrialState.FAIL, keep_checkpoint=False)",
        CHECKPOINT_TESTS,
    ),
    Mutation(
        "checkpoints.rerun_after_an_error_continues",
        "executor/_launch.py",
        "        if not frozen.user_attrs.get(_constants.ATTR_INTERRUPTED):\n            return None, None",
        "        if False:\n            return None, None",
        CHECKPOINT_TESTS,
    ),
    Mutation(
        "checkpoints.curve_not_carried",
        "executor/_lifecycle.py",
        "        live.epochs = from_epoch\n",
        "        live.epochs = 0\n",
        CHECKPOINT_TESTS,
    ),
    Mutation(
        "checkpoints.due_after_the_last_epoch",
        "_trial.py",
        "if epoch == 0 or epoch >= self.epochs or epoch <= saved_epoch",
        "if epoch == 0 or epoch > self.epochs or epoch <= saved_epoch",
        CHECKPOINT_TESTS,
    ),
    Mutation(
        "checkpoints.orphans_include_queued_reruns",
        "executor/_lifecycle.py",
        "        needed |= {t.user_attrs.get(_constants.ATTR_RETRY_OF) for t in trials if t.state in alive}",
        "        needed |= set()",
        CHECKPOINT_TESTS,
    ),
    Mutation(
        "promotion.first_driver_prunes_the_others_paused",
        "executor/_launch.py",
        "            return [] if others else self._lifecycle.end_paused()",
        "            return self._lifecycle.end_paused()",
        CHECKPOINT_TESTS,
    ),
    # -- storage: a cut-off journal write, a full disk as an outage, MySQL's lock
    Mutation(
        "storage.cut_off_write_left_in_the_journal",
        "storage/_snapshot.py",
        "                    os.ftruncate(fd, start)",
        "                    pass",
        STORAGE_TESTS,
    ),
    Mutation(
        "storage.full_disk_not_an_outage",
        "storage/_outage.py",
        "        if isinstance(current, OSError) and current.errno in _DISK_FULL:",
        "        if False:",
        STORAGE_TESTS,
    ),
    Mutation(
        "storage.mysql_lock_assumed_after_its_wait",
        "storage/_lock.py",
        "while (got := conn.execute(sqlalchemy.text(acquire)).scalar()) != 1 and kind != \"postgresql\":",
        "while (got := conn.execute(sqlalchemy.text(acquire)).scalar()) is None and kind != \"postgresql\":",
        STORAGE_TESTS,
    ),
    # -- the practitioner's loop: the patience rule, carried trials, suggested bounds
    Mutation(
        "loop.patience_off_by_one",
        "study/_patience.py",
        "if best is None or since < self.patience:",
        "if best is None or since <= self.patience:",
        LOOP_TESTS,
    ),
    Mutation(
        "loop.carried_trials_count_in_the_budget",
        "executor/_launch.py",
        "            if _constants.ATTR_CARRIED_FROM in attrs:\n                continue\n",
        "",
        LOOP_TESTS,
    ),
    Mutation(
        "loop.suggest_ranks_the_worst",
        "study/_suggest.py",
        "ranked = sorted(complete, key=lambda t: float(t.value), reverse=maximize)",
        "ranked = sorted(complete, key=lambda t: float(t.value), reverse=not maximize)",
        LOOP_TESTS,
    ),
    # -- results/_finish.py and study/_patience.py: the finish's choice and the noise-aware stop rule
    Mutation(
        "finish.selects_the_worst_mean",
        "results/_finish.py",
        "    sign = 1.0 if maximize else -1.0",
        "    sign = -1.0 if maximize else 1.0",
        FINISH_TESTS,
    ),
    Mutation(
        "finish.keeps_the_farthest_seed",
        "results/_finish.py",
        "kept = min(own, key=lambda run: (abs(run.validation[metric] - mean), run.seed))",
        "kept = max(own, key=lambda run: (abs(run.validation[metric] - mean), run.seed))",
        FINISH_TESTS,
    ),
    Mutation(
        "finish.infeasible_candidates",
        "results/_finish.py",
        "complete = [t for t in trials if t.state is TrialState.COMPLETE and is_feasible(t)]",
        "complete = [t for t in trials if t.state is TrialState.COMPLETE]",
        FINISH_TESTS,
    ),
    Mutation(
        "patience.noise_ignored",
        "study/_patience.py",
        "return self.min_delta if noise is None else max(self.min_delta, noise.std)",
        "return self.min_delta",
        LOOP_TESTS,
    ),
    Mutation(
        "patience.measured_before_half",
        "study/_patience.py",
        "                due = len(finished) >= half",
        "                due = len(finished) >= 1",
        LOOP_TESTS,
    ),
]


def _run(copy: Path, mutation: Mutation, timeout: float) -> tuple[str, float]:
    """'caught', 'survived' or 'timeout' for one mutation applied in ``copy``; the seconds it took."""
    path = copy / "src" / "hpo" / mutation.file
    original = path.read_text()
    if original.count(mutation.original) != 1:
        raise SystemExit(f"{mutation.id}: its original text must occur once in src/hpo/{mutation.file}; fix the list")
    tests = [str(copy / "tests" / t) for t in mutation.tests if (copy / "tests" / t).exists()]
    path.write_text(original.replace(mutation.original, mutation.mutated))
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider", *tests],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        verdict = "survived" if result.returncode == 0 else "caught"
    except subprocess.TimeoutExpired:
        verdict = "timeout"  # a mutation that makes the tests hang is caught too, but say so
    finally:
        path.write_text(original)
    return verdict, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", default="", help="only mutations whose id contains this")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutation's test run")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.k in m.id]
    with tempfile.TemporaryDirectory(prefix="hpo-mutation-") as folder:
        copy = Path(folder)
        for name in COPIED:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, copy / name)
        guarding = sorted({str(copy / "tests" / t) for m in chosen for t in m.tests if (copy / "tests" / t).exists()})
        clean = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", *guarding],
            cwd=copy,
            capture_output=True,
            text=True,
        )
        if clean.returncode != 0:  # then every mutation would look caught
            print(clean.stdout[-3000:])
            raise SystemExit("the guarding tests fail without any mutation: fix them first")
        results = []
        print(f"{'mutation':44} {'verdict':9} {'s':>6}")
        for mutation in chosen:
            verdict, seconds = _run(copy, mutation, args.timeout)
            results.append({"id": mutation.id, "file": mutation.file, "verdict": verdict, "seconds": round(seconds, 1)})
            print(f"{mutation.id:44} {verdict:9} {seconds:6.1f}", flush=True)
    caught = sum(r["verdict"] != "survived" for r in results)
    print(f"\ncaught {caught} of {len(results)} mutations ({100 * caught / max(len(results), 1):.0f}%)")
    survivors = [r["id"] for r in results if r["verdict"] == "survived"]
    if survivors:
        print("survived: " + ", ".join(survivors))
    if args.json:
        args.json.write_text(json.dumps({"caught": caught, "total": len(results), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
