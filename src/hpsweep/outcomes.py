"""What became of each job of a sweep, read from the ``result.json`` files the jobs wrote."""

from dataclasses import dataclass
from pathlib import Path

from hpsweep.records import RESULT_FILE, read_result, write_json_atomic
from hpsweep.sweep import Job


@dataclass
class Outcome:
    job: Job
    directory: Path
    previously_completed: bool
    status: str = "pending"  # completed | failed | skipped (completed in an earlier run of the sweep)
    result: dict | None = None
    launch_error: str | None = None  # what the launcher raised for this job's batch, if anything

    @classmethod
    def of(cls, job: Job, directory: Path) -> "Outcome":
        result = read_result(directory)
        return cls(job, directory, previously_completed=bool(result and result.get("status") == "completed"))


def collect_outcomes(outcomes: list[Outcome], ran: set[int]) -> None:
    """Read each job's result; a job that ran but left none (its process was killed) is recorded failed."""
    for outcome in outcomes:
        outcome.result = read_result(outcome.directory)
        if id(outcome) not in ran:
            outcome.status = "skipped"
            continue
        if outcome.result is None:
            outcome.result = {
                "status": "failed", "model": outcome.job.model, "category": outcome.job.category,
                "option": outcome.job.option, "metrics": None,
                "error": {"type": "JobLost", "message": "the job ended without writing a result: " + (
                    outcome.launch_error or "its process was killed, ran out of memory or timed out")},
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
            " ".join(filter(None, (outcome.job.option, *outcome.job.swept))) or "base",
            f"[{style.get(outcome.status, 'red')}]{outcome.status}[/]",
            f"{metrics['val_f1']:.4f}" if "val_f1" in metrics else "",
            format_duration(result["duration_s"]) if result.get("duration_s") is not None else "",
            f"{error.get('type', '')}: {error.get('message', '')}"[:120] if error else "",
        )
    totals = {status: sum(outcome.status == status for outcome in outcomes) for status in style}
    out = console()
    out.print(table)
    out.print(", ".join(f"{count} {status}" for status, count in totals.items()))
