"""The results of sweeps, gathered from the records they left: for the summary, plots, ``best``, greedy
stages and time estimates.

A sweep dir's ``sweep.json`` says which trainings belong to its current plan and which rows each answers;
a result.json outside any sweep dir is a run of its own. Reads only JSON and CSV: a thousand results load
in well under a second, with no torch import.
"""

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hpsweep.core import metrics
from hpsweep.core.errors import ConfigError
from hpsweep.core.manifest import MANIFEST_FILE, read_manifest
from hpsweep.core.records import (
    ATTEMPTS_DIR,
    HISTORY_FILE,
    JOB_FILE,
    RESULT_FILE,
    VAL_PROBABILITIES_FILE,
    VAL_VIEWS_PROBABILITIES_FILE,
    read_job_record,
    read_probabilities,
    read_result,
)
from hpsweep.core.statuses import RowStatus, TrainingStatus
from hpsweep.core.trainings import BASE, DEFAULT_REPLICATES, bare_key, replicate_dict
from hpsweep.decide.inference import DEFAULT_HELD_OUT, Labels
from hpsweep.decide.race_record import elimination, read_race, untrained_status
from hpsweep.decide.statistics import MULTIPLICITIES, SPENDINGS

METRICS = ("val_f1", "val_acc", "val_loss")


@dataclass
class TrainingResult:
    """One training's record (``result.json``, or ``job.json`` while it runs) and its place in the sweep."""

    directory: Path
    record: dict
    entry: dict  # the manifest's entry, or one made from the record for a run outside a sweep
    eliminated: dict | None = None  # why racing never trained it (``race.json``)
    _labels: dict = field(default_factory=dict, repr=False)  # probability file -> its labels, read once

    @classmethod
    def read(cls, directory: Path, entry: dict | None = None) -> "TrainingResult":
        record = read_result(directory)
        if record is None:
            started = read_job_record(directory)
            record = {key: value for key, value in started.items() if key != "status"} | \
                {"status": RowStatus.INCOMPLETE} if started is not None else {}
        if entry is None:  # a run outside any sweep: its overrides tell its setting and replicate
            category = record.get("category")
            overrides = [item for item in record.get("overrides", [])
                         if bare_key(item).split(".")[0].split("/")[0] not in ("model", "category", category,
                                                                                "hydra", "logger")]
            entry = {"model": record.get("model"), "category": category, "option": record.get("option"),
                     "is_base": not category, "stage": 0,
                     "setting": record.get("setting") or [item for item in overrides
                                                          if bare_key(item) not in DEFAULT_REPLICATES],
                     "replicate": record.get("replicate") or replicate_dict(
                         [item for item in overrides if bare_key(item) in DEFAULT_REPLICATES]),
                     "rows": record.get("rows") or [{"category": category, "option": record.get("option") or BASE,
                                                     "stage": 0}]}
        return cls(directory, record, entry)

    @property
    def status(self) -> str:
        """completed | failed | pruned | incomplete (started, no result yet) | pending (not started) | eliminated
        (never to be trained: racing eliminated a row it answers) | stopped (never to be trained: every row it
        answers was decided without it)."""
        if self.record.get("status"):
            return self.record["status"]
        return untrained_status(self.eliminated) if self.eliminated else RowStatus.PENDING

    @property
    def model(self) -> str | None:
        """The model's option name (``model=<this>``); None for an app without models."""
        return self.entry.get("model") or self.record.get("model")

    @property
    def category(self) -> str | None:
        return self.entry.get("category")

    @property
    def option(self) -> str | None:
        return self.entry.get("option")

    @property
    def rows(self) -> list[dict]:
        return self.entry["rows"]

    @property
    def replicate(self) -> str:
        return " ".join(f"{key}={value}" for key, value in sorted(self.entry.get("replicate", {}).items()))

    @property
    def setting(self) -> tuple[str, ...]:
        return tuple(self.entry.get("setting") or ())

    @property
    def stage(self) -> int:
        return self.entry.get("stage", 0)

    @property
    def is_base(self) -> bool:
        return bool(self.entry.get("is_base"))

    @property
    def provenance(self) -> dict | None:
        """What made its number (``hpsweep.core.provenance``); None in a record made before hpsweep recorded it."""
        value = self.record.get("provenance")
        return value if isinstance(value, dict) else None

    @property
    def duration_s(self) -> float | None:
        value = self.record.get("duration_s")
        return value if isinstance(value, (int, float)) else None

    def metric(self, name: str) -> float | None:
        value = (self.record.get("metrics") or {}).get(name)
        return value if isinstance(value, (int, float)) else None

    @property
    def history_path(self) -> Path:
        return self.directory / HISTORY_FILE

    def labels(self, metric: str = "val_f1") -> Labels | None:
        """The validation images' ids, targets and predicted classes (as class numbers, from
        ``val_probabilities.csv``, sorted by id); for a metric of the distorted views, each ``<image>@<view>``.
        None where the file is absent or unreadable."""
        import numpy as np

        name = VAL_VIEWS_PROBABILITIES_FILE if metrics.is_per_view(metric) else VAL_PROBABILITIES_FILE
        if name not in self._labels:
            found = read_probabilities(self.directory / name, with_target=True)
            if found is None:
                return None
            header, leading, values = found
            classes = {label: number for number, label in enumerate(header[2:])}
            rows = sorted(zip(leading, values, strict=True))
            if any(target not in classes for (_, target), _ in rows):
                return None  # a target that is no class column: nothing to score per image
            self._labels[name] = (tuple(image for (image, _), _ in rows),
                                  np.array([classes[target] for (_, target), _ in rows]),
                                  np.array([row.index(max(row)) for _, row in rows]))
        return self._labels[name]

    def validated_on(self, metric: str = "val_f1") -> str | None:
        """Which images it validated on, as an identity equal for runs on the same ones: the trainer's record
        (``validation.images``), else the ids in its predictions; None where neither says."""
        recorded = self.record.get("validation")
        if isinstance(recorded, dict) and isinstance(recorded.get("images"), str):
            return recorded["images"]
        labels = self.labels(metric)
        return hashlib.sha256("\n".join(labels[0]).encode()).hexdigest()[:16] if labels else None


@dataclass
class Sweep:
    """A sweep dir and the trainings of its current plan; or the runs outside any sweep under a directory."""

    directory: Path
    manifest: dict
    trainings: list[TrainingResult]
    left_out: list[Path] = field(default_factory=list)  # results of an earlier plan of the sweep
    single_runs: list[Path] = field(default_factory=list)  # runs outside any sweep beside it, not compared with it
    redecided: str | None = None  # the sweep's own metric, where ``--metric`` decides instead

    @property
    def metric(self) -> str:
        return self.manifest.get("metric") or "val_f1"

    @property
    def higher_is_better(self) -> bool:
        return (self.manifest.get("direction") or metrics.direction(self.metric)) == "max"

    @property
    def decided_by(self) -> str:
        """Why this metric decides (``hpsweep.core.metrics.monitor``, the sweeper's setting, or ``--metric``)."""
        return self.manifest.get("decided_by") or ""

    def decide_by(self, metric: str, direction: str | None) -> None:
        """Decide this sweep's comparisons by another metric its trainings recorded (``--metric``); without a
        ``direction``, a new metric's own (``hpsweep.core.metrics.direction``)."""
        own = self.metric, "max" if self.higher_is_better else "min"
        chosen = (metric, direction or (own[1] if metric == own[0] else None) or metrics.direction(metric))
        if chosen != own:
            self.redecided = own[0]
            self.manifest = {**self.manifest, "metric": chosen[0], "direction": chosen[1],
                             "decided_by": f"--metric {chosen[0]} --direction {chosen[1]} (the sweep decided by "
                                           f"{own[0]}, {own[1]})"}

    @property
    def recorded_metrics(self) -> set[str]:
        return {name for training in self.trainings if training.status == TrainingStatus.COMPLETED
                for name, value in (training.record.get("metrics") or {}).items() if isinstance(value, (int, float))}

    @property
    def fixed(self) -> list[str]:
        """The overrides every job of the sweep had (its settings: data, trainer, epochs...)."""
        return list(self.manifest.get("fixed", []))

    @property
    def alpha(self) -> float:
        """The sweep's alpha; 0.05 where the manifest holds no probability (another tool's, or damaged)."""
        alpha = self.manifest.get("alpha", 0.05)
        return alpha if isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 1 else 0.05

    @property
    def multiplicity(self) -> str:
        """How the sweep's comparisons are corrected together (``bh`` where the manifest does not say)."""
        method = self.manifest.get("multiplicity")
        return method if method in MULTIPLICITIES else "bh"

    @property
    def fdr(self) -> float:
        """The rate the sweep's correction holds its false wins to; alpha where the manifest does not say."""
        rate = self.manifest.get("fdr")
        return rate if isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 < rate < 1 else self.alpha

    @property
    def spending(self) -> str | None:
        """How the race spent alpha on looks for a win before the last replicate; None: it looked at the end only
        (racing off, a sweep recorded before efficacy stopping, or a manifest that names no spending function)."""
        racing = self.manifest.get("racing")
        if not isinstance(racing, dict) or not racing.get("enabled", True):
            return None
        return racing.get("efficacy") if racing.get("efficacy") in SPENDINGS else None


def held_out(trainings: Iterable[TrainingResult]) -> float:
    """Validation images over training images, from the first training whose record says (the overlap correction
    of runs on different splits); ``DEFAULT_HELD_OUT`` where none does (another app's)."""
    for training in trainings:
        setup = training.record.get("setup")
        if isinstance(setup, dict) and isinstance(setup.get("val_images"), int) and \
                isinstance(setup.get("train_images"), int) and setup["train_images"] > 0:
            return setup["val_images"] / setup["train_images"]
    return DEFAULT_HELD_OUT


def load(paths: Iterable[Path]) -> list[Sweep]:
    """Every sweep under ``paths`` (sweep dirs, or ``outputs/`` for all of them); the runs outside any sweep are
    compared as one group where a path holds no sweep (``outputs/runs``), and only counted where it holds some
    (``Sweep.single_runs`` of its first sweep), so that single runs, failed ones included, stay out of sweeps'
    tables."""
    sweeps: list[Sweep] = []
    for top in paths:
        sweep_dirs, records = [], []
        for root, directories, files in os.walk(top):
            directories.sort()
            if JOB_FILE in files or RESULT_FILE in files:
                directories[:] = [name for name in directories if name != ATTEMPTS_DIR]  # earlier attempts
            if MANIFEST_FILE in files and (manifest := read_manifest(Path(root))) is not None:
                sweep_dirs.append((Path(root), manifest))  # an unreadable one is as absent: its runs are lone
            if RESULT_FILE in files or JOB_FILE in files:
                records.append(Path(root))
        owner = {directory: max((s for s, _ in sweep_dirs if directory.is_relative_to(s)),
                                key=lambda s: len(s.parts), default=None) for directory in records}
        for sweep_dir, manifest in sweep_dirs:
            listed = {sweep_dir / entry["directory"] for entry in manifest["trainings"]}
            trainings = [TrainingResult.read(sweep_dir / entry["directory"], entry) for entry in manifest["trainings"]]
            race = read_race(sweep_dir)
            for training in trainings:
                if training.status == RowStatus.PENDING:
                    training.eliminated = elimination(race, training.entry)
            left_out = [directory for directory in records if owner[directory] == sweep_dir and directory not in listed]
            sweeps.append(Sweep(sweep_dir, manifest, trainings, left_out))
        lone = [TrainingResult.read(directory) for directory in records if owner[directory] is None]
        if lone and sweep_dirs:  # outputs/: its sweeps; its single runs (outputs/runs) are said, not mixed in
            # (read: another tool's unreadable record is named and left as it is, and is no run)
            sweeps[len(sweeps) - len(sweep_dirs)].single_runs = [run.directory for run in lone
                                                                 if run.status != RowStatus.PENDING]
        elif lone:  # runs outside any sweep: compared where their model and setting match
            sweeps.append(Sweep(Path(top), {}, lone))
    return sweeps


def decide_by(sweeps: list[Sweep], metric: str | None, direction: str | None) -> None:
    """Re-decide ``sweeps`` by ``metric`` (and ``direction``; by default ``min`` for a loss, else ``max``): the
    same rule, any metric every training recorded. Raises ConfigError for a metric no training recorded."""
    if metric is None:
        if direction is not None:
            for sweep in sweeps:
                sweep.decide_by(sweep.metric, direction)
        return
    recorded = set().union(*(sweep.recorded_metrics for sweep in sweeps))
    if metric not in recorded:
        raise ConfigError([f"--metric {metric}: no completed training recorded it; recorded: "
                           f"{', '.join(sorted(recorded)) or 'nothing yet'}"])
    for sweep in sweeps:
        sweep.decide_by(metric, direction)


def gather(paths: Iterable[Path]) -> list[TrainingResult]:
    """Every training under ``paths`` that started, flat."""
    return [training for sweep in load(paths) for training in sweep.trainings if training.status != RowStatus.PENDING]
