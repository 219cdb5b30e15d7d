"""What became of each job of a sweep, read from the ``result.json`` files the jobs wrote."""

from dataclasses import dataclass
from pathlib import Path

from hpsweep.records import CHECKPOINT_FILE, RESULT_FILE, read_result, write_json_atomic
from hpsweep.sweep.plan import Job

PREVIOUS_RESULT_FILE = "result.previous.json"
MANIFEST_FILE = "sweep.json"


@dataclass
class Outcome:
    job: Job
    directory: Path
    previously_completed: bool
    status: str = "pending"  # then completed | failed | skipped (completed in an earlier run of the sweep)
    result: dict | None = None
    launch_error: str | None = None  # what the launcher raised for this job's batch, if anything

    @classmethod
    def of(cls, job: Job, directory: Path) -> "Outcome":
        result = read_result(directory)
        return cls(job, directory, previously_completed=bool(result and result.get("status") == "completed"))

    def prepare_to_run(self) -> None:
        """Set aside an earlier attempt's result, so that whatever result.json exists after the launch
        is this run's (an earlier attempt's record stays, as ``result.previous.json``)."""
        earlier = self.directory / RESULT_FILE
        if earlier.is_file():
            earlier.replace(self.directory / PREVIOUS_RESULT_FILE)


def write_manifest(sweep_dir: Path, outcomes: list[Outcome]) -> None:
    """``sweep.json``: every job of the sweep and its directory, so ``hpsweep status`` can tell a job that
    has not started yet from one that never will."""
    write_json_atomic(sweep_dir / MANIFEST_FILE, {"jobs": [
        {"label": outcome.job.label, "model": outcome.job.model, "category": outcome.job.category,
         "option": outcome.job.option_label, "directory": str(outcome.directory.relative_to(sweep_dir))}
        for outcome in outcomes]})


def collect_outcomes(outcomes: list[Outcome]) -> None:
    """Read the result of each job that ran; one that left none (its process was killed) is recorded failed."""
    for outcome in outcomes:
        outcome.result = read_result(outcome.directory)
        if outcome.status == "skipped":
            continue
        if outcome.result is None:
            message = "the job ended without writing a result"
            if (outcome.directory / CHECKPOINT_FILE).is_file():
                message += " (its last checkpoint is kept: re-running the sweep resumes it)"
            message += ": " + (outcome.launch_error or "its process was killed, ran out of memory or timed out")
            outcome.result = {
                "status": "failed", "model": outcome.job.model, "category": outcome.job.category,
                "option": outcome.job.option, "metrics": None, "error": {"type": "JobLost", "message": message},
            }
            outcome.directory.mkdir(parents=True, exist_ok=True)
            write_json_atomic(outcome.directory / RESULT_FILE, outcome.result)
        outcome.status = outcome.result.get("status", "failed")


def print_outcomes(outcomes: list[Outcome], sweep_dir: Path) -> None:
    """A table of every job's outcome and the totals per status."""
    from rich.table import Table

    from hpsweep.display import console, format_duration

    table = Table(title=f"sweep {sweep_dir}", title_justify="left")
    for column in ("model", "category", "option", "status", "val_f1", "time", "reason"):
        table.add_column(column, justify="right" if column in ("val_f1", "time") else "left")
    style = {"completed": "green", "skipped": "cyan", "failed": "red"}
    for outcome in outcomes:
        result = outcome.result or {}
        metrics = result.get("metrics") or {}
        error = result.get("error") or {}
        table.add_row(
            result.get("model") or outcome.job.model or "",
            outcome.job.category or "-",
            outcome.job.option_label,
            f"[{style.get(outcome.status, 'red')}]{outcome.status}[/]",
            f"{metrics['val_f1']:.4f}" if "val_f1" in metrics else "",
            format_duration(result["duration_s"]) if result.get("duration_s") is not None else "",
            f"{error.get('type', '')}: {error.get('message', '')}"[:120] if error else "",
        )
    totals = {status: sum(outcome.status == status for outcome in outcomes) for status in style}
    out = console()
    out.print(table)
    out.print(", ".join(f"{count} {status}" for status, count in totals.items()))
