"""The exception tree: one root, config errors apart from trial and sweep failures."""

from __future__ import annotations

from dataclasses import dataclass


class HpoError(Exception):
    """Root of every error hpo raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One defect in a sweep or search-space file.

    ``path`` is the dotted key path (``space.params.lr.low``), ``line`` the 1-based line in
    ``file`` when known, ``message`` the rule and the bad value, ``fix`` what to do.
    """

    file: str
    path: str
    message: str
    fix: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.path}:" if self.path else ""
        text = f"{where}:{key} {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class ConfigError(HpoError, ValueError):
    """A sweep or search-space file is invalid; raised before anything expensive starts."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(HpoError):
    """The request cannot be carried out as asked (missing study, changed space); exit code 2."""


class DataError(HpoError, ValueError):
    """The data cannot be used (missing file, wrong shapes, NaN features, a single class)."""


class TrialFailed(HpoError):
    """This trial failed; record it as FAIL with the reason and carry on with the sweep."""


class TrialOutOfMemory(TrialFailed):
    """This trial ran out of (GPU or host) memory; packed on a shared GPU, it may fit on a whole one."""


class SweepAborted(HpoError):
    """Stop the whole sweep (e.g. the objective metric does not exist, too many failures)."""


class SweepInterrupted(SweepAborted):
    """The user interrupted the sweep (Ctrl+C); the study is consistent and can be resumed."""
