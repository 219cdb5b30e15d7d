"""What became of each training of a sweep, read from the ``result.json`` files the jobs wrote.

A job of hpsweep's trainer writes its own result. A job of any other Hydra app writes none: its outcome is
what Hydra's launcher returned (the task's return value, or the exception it raised), recorded here in the
same format so that resume and the reports work for every app.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from hpsweep.core import hydra_private
from hpsweep.core.records import (
    ATTEMPTS_DIR,
    CHECKPOINT_FILE,
    CLAIM_FILE,
    RESULT_FILE,
    now,
    read_job_record,
    read_result,
    write_json_atomic,
)
from hpsweep.core.statuses import ANSWERED_FREE, EARLIER, RowStatus, TrainingStatus, counted, said
from hpsweep.core.trainings import Training, replicate_dict

PREVIOUS_RESULT_FILE = "result.previous.json"

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    training: Training
    directory: Path
    fingerprint: str
    previous: dict | None  # the result found before the launch, if any
    # then completed | failed | pruned | skipped (done in an earlier run of the sweep); on the way, elsewhere
    # (another process holds its claim) or unclaimed (its claim could not be written: recorded failed); or
    # eliminated or stopped: never trained, racing stopped its row (hpsweep.sweep.racing); answered: its carrier trains
    # its trajectory (hpsweep.sweep.trajectories)
    status: str = RowStatus.PENDING
    result: dict | None = None
    launch_error: str | None = None  # what the launcher raised for this job's batch, if anything
    job_return: object | None = None  # Hydra's JobReturn, for apps that write no result.json
    answered_by: "Outcome | None" = field(default=None, repr=False)  # the carrier of its trajectory
    answers: list["Outcome"] = field(default_factory=list, repr=False)  # what this carrier answers
    shared: dict | None = None  # an answered training's own stopping rule and names, for its carrier
    fresh: bool = False  # trained again from nothing (resume=false, rerun=stale_code): the last attempt is archived
    provenance: dict | None = None  # the driver's, for an app whose jobs record none of their own

    @classmethod
    def of(cls, training: Training, directory: Path, job_fingerprint: str) -> "Outcome":
        outcome = cls(training, directory, job_fingerprint, None)
        outcome.read_previous()
        return outcome

    def read_previous(self) -> None:
        """The result found in the training's directory now (another driver may have written it meanwhile)."""
        previous = read_result(self.directory)
        if previous and previous.get("fingerprint") not in (None, self.fingerprint):
            previous = None  # another config's result: this training has not run
        self.previous = previous

    def done_before(self, pruning: bool) -> bool:
        """Completed in an earlier run; a pruned job stays pruned while pruning is on (off, it may finish)."""
        status = (self.previous or {}).get("status")
        return status == TrainingStatus.COMPLETED or (status == TrainingStatus.PRUNED and pruning)

    def prepare_to_run(self) -> None:
        """Set aside an earlier attempt's result, so that whatever result.json exists after the launch is this
        run's: kept as ``result.previous.json`` where the training goes on from its checkpoint, or, for a fresh
        start, the whole attempt (result, history, weights, predictions, checkpoint, job.json and so its W&B run)
        moved to ``attempts/<n>/``."""
        if self.fresh:
            archive_attempt(self.directory)
            return
        earlier = self.directory / RESULT_FILE
        if earlier.is_file():
            earlier.replace(self.directory / PREVIOUS_RESULT_FILE)


def archive_attempt(directory: Path) -> Path | None:
    """Move what an earlier attempt left in ``directory`` into ``attempts/<n>/`` (the next free n), so that a fresh
    start replaces nothing and reads nothing of it. The claim (this driver's) stays. None where it left nothing."""
    directory = Path(directory)
    try:  # the claim, its lock and its heartbeat's temporary files stay
        left = [path for path in directory.iterdir() if path.name != ATTEMPTS_DIR
                and not path.name.startswith((CLAIM_FILE, f".{CLAIM_FILE}"))]
    except FileNotFoundError:
        return None
    if not left:
        return None
    attempts = directory / ATTEMPTS_DIR
    numbers = [int(path.name) for path in attempts.glob("*") if path.name.isdigit()] if attempts.is_dir() else []
    target = attempts / str(max(numbers, default=0) + 1)
    target.mkdir(parents=True)
    for path in left:
        path.replace(target / path.name)
    log.info("%s: the earlier attempt is kept in %s", directory, target.relative_to(directory))
    return target


def collect_outcomes(outcomes: list[Outcome], metric: str) -> None:
    """Read the result of each job that ran. A job that left none is recorded from what the launcher returned
    (an app that writes no result.json), or as failed (its process was killed)."""
    for outcome in outcomes:
        outcome.result = read_result(outcome.directory)
        if outcome.status in (RowStatus.SKIPPED, RowStatus.ELIMINATED, RowStatus.STOPPED):
            continue
        if outcome.result is None:
            outcome.result = _record_from_launcher(outcome, metric)
            try:
                outcome.directory.mkdir(parents=True, exist_ok=True)
                write_json_atomic(outcome.directory / RESULT_FILE, outcome.result)
            except OSError as error:  # a full disk: reported all the same, and a re-run trains it again
                log.error("the outcome of %s is not recorded: %s", outcome.directory, error)
        outcome.status = outcome.result.get("status", TrainingStatus.FAILED)


def _record_from_launcher(outcome: Outcome, metric: str) -> dict:
    from hydra.core.utils import JobStatus

    training = outcome.training
    record = {"model": training.model, "category": training.category, "option": training.option,
              "rows": [row.as_dict() for row in training.rows], "replicate": replicate_dict(training.replicate),
              "setting": list(training.setting), "fingerprint": outcome.fingerprint, "duration_s": None,
              "metrics": None, "error": None, "ended_at": now(),  # when it was known to have ended
              "started_at": (read_job_record(outcome.directory) or {}).get("started_at"),
              "provenance": outcome.provenance}
    job_return = outcome.job_return
    if job_return is not None and job_return.status == JobStatus.COMPLETED:
        value = numbers(hydra_private.return_value(job_return))  # the property re-raises a failure; this one completed
        metrics = value if isinstance(value, dict) else {metric: value} if value is not None else {}
        return {**record, "status": TrainingStatus.COMPLETED, "metrics": metrics}
    kept = " (its last checkpoint is kept: re-running the sweep resumes it)" if (
        outcome.directory / CHECKPOINT_FILE).is_file() else ""
    if job_return is not None and job_return.status == JobStatus.FAILED:
        error = hydra_private.return_value(job_return)
        kind = getattr(error, "kind", None) or type(error).__name__  # a pack's training says its error's kind
        lost = kind == "JobLost"  # a pack's training whose process or task ended (hpsweep.sweep.packs)
        return {**record, "status": TrainingStatus.FAILED,
                "error": {"type": kind, "message": str(error) + (kept if lost else "")}}
    message = "no result was written for it" if outcome.answered_by is not None else \
        "the job ended without writing a result"
    message += kept + ": " + (outcome.launch_error or "its process was killed, ran out of memory or timed out")
    return {**record, "status": TrainingStatus.FAILED, "error": {"type": "JobLost", "message": message}}


def numbers(value) -> dict[str, int | float] | int | float | None:
    """What a task returned, as a sweep decides by it: a dict keeps the entries that are numbers (Lightning's are
    tensors); anything else is one number (a float, a one-element tensor or array) or None (nothing returned)."""
    if isinstance(value, dict):
        return {str(key): number(item) for key, item in value.items() if number(item) is not None}
    return number(value)


def number(value) -> int | float | None:
    """A task's return value as a number: an int or float, a numpy scalar, or a tensor or array of one element
    (``.item()``); None for anything else (None, text, a bool, a tensor of several values)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    size = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", None)  # torch, numpy
    if size != 1 or not callable(getattr(value, "item", None)):
        return None
    item = value.item()
    return item if isinstance(item, (int, float)) and not isinstance(item, bool) else None


def counts(outcomes: list[Outcome]) -> str:
    """``24 trainings: 12 completed, 12 not trained``: what became of each, in the words a person reads; trained in
    an earlier run of the sweep, or answered by another's trajectory, said apart."""
    return f"{len(outcomes)} trainings: " + counted(
        EARLIER if outcome.status == RowStatus.SKIPPED else ANSWERED_FREE if outcome.answered_by is not None
        and outcome.status == RowStatus.COMPLETED else said(outcome.status) for outcome in outcomes)

