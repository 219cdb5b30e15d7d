"""The results of many jobs, gathered from the records they left: for the summary, plots and ``best``.

Reads only JSON: a thousand results load in well under a second, with no torch import.
"""

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hpsweep.records import HISTORY_FILE, RESULT_FILE
from hpsweep.sweep.plan import JOB_FILE

METRICS = ("val_f1", "val_acc", "val_loss")


@dataclass
class JobResult:
    """One job's record; ``status`` is ``incomplete`` for a job that started but wrote no result (yet)."""

    directory: Path
    record: dict

    @property
    def status(self) -> str:
        return self.record.get("status") or "incomplete"

    @property
    def model(self) -> str:
        return self.record.get("model") or "?"

    @property
    def category(self) -> str | None:
        return self.record.get("category")

    @property
    def option(self) -> str | None:
        return self.record.get("option")

    def metric(self, name: str) -> float | None:
        value = (self.record.get("metrics") or {}).get(name)
        return value if isinstance(value, (int, float)) else None

    @property
    def history_path(self) -> Path:
        return self.directory / HISTORY_FILE


def gather(directories: Iterable[Path]) -> list[JobResult]:
    """Every job under ``directories`` (sweep dirs, or ``outputs/`` for all of them), in path order.

    A job is a directory holding ``result.json``, or only ``job.json`` when it was interrupted or is
    running; unreadable files are skipped, not fatal.
    """
    results = []
    for top in directories:
        for root, _, files in sorted(os.walk(top)):
            name = RESULT_FILE if RESULT_FILE in files else JOB_FILE if JOB_FILE in files else None
            if name is None:
                continue
            try:
                record = json.loads(Path(root, name).read_text())
            except (OSError, ValueError):
                continue
            if name == JOB_FILE:
                record = {key: value for key, value in record.items() if key != "status"}
            results.append(JobResult(Path(root), record))
    return results


def best_by_category(results: list[JobResult], metric: str = "val_f1",
                     higher_is_better: bool = True) -> dict[tuple[str, str], JobResult]:
    """The completed job with the best ``metric`` for each (model, category)."""
    best: dict[tuple[str, str], JobResult] = {}
    for result in results:
        value = result.metric(metric)
        if result.status != "completed" or result.category is None or value is None:
            continue
        key = (result.model, result.category)
        current = best.get(key)
        if current is None or (value > current.metric(metric) if higher_is_better else value < current.metric(metric)):
            best[key] = result
    return best
