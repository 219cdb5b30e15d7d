"""``hpsweep summary``: what won, per model and category, as a table, CSV, Markdown and plots."""

import csv
import statistics
from pathlib import Path

from hpsweep.display import console, format_duration
from hpsweep.report.results import JobResult, best_by_category

COLUMNS = ("model", "category", "option", "status", "val_f1", "val_acc", "best_epoch", "epochs_run", "minutes",
           "best", "directory")


def rows(results: list[JobResult]) -> list[dict]:
    """One flat row per job, ``best`` marking the best option of its model and category."""
    best = {id(result) for result in best_by_category(results).values()}
    table = []
    for result in results:
        duration = result.record.get("duration_s")
        table.append({
            "model": result.model,
            "category": result.category or "-",
            "option": result.option or "-",
            "status": result.status,
            "val_f1": result.metric("val_f1"),
            "val_acc": result.metric("val_acc"),
            "best_epoch": (result.record.get("metrics") or {}).get("best_epoch"),
            "epochs_run": result.record.get("epochs_run"),
            "minutes": round(duration / 60, 2) if isinstance(duration, (int, float)) else None,
            "best": id(result) in best,
            "directory": str(result.directory),
        })
    return table


def totals(table: list[dict]) -> dict:
    """Counts per status and the seed's summary figures: best and mean macro F1, best accuracy, mean minutes."""
    completed = [row for row in table if row["status"] == "completed"]
    f1 = [row["val_f1"] for row in completed if row["val_f1"] is not None]
    accuracy = [row["val_acc"] for row in completed if row["val_acc"] is not None]
    minutes = [row["minutes"] for row in completed if row["minutes"] is not None]
    return {
        "jobs": len(table),
        **{status: sum(row["status"] == status for row in table) for status in ("completed", "failed", "incomplete")},
        "best_val_f1": max(f1, default=None),
        "mean_val_f1": statistics.mean(f1) if f1 else None,
        "best_val_acc": max(accuracy, default=None),
        "mean_minutes": statistics.mean(minutes) if minutes else None,
    }


def _number(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def print_summary(table: list[dict]) -> None:
    from rich.table import Table

    out = console()
    for model in dict.fromkeys(row["model"] for row in table):
        view = Table(title=model, title_justify="left")
        for column in ("category", "option", "status", "val F1", "val acc", "best epoch", "epochs", "time"):
            view.add_column(column, justify="right" if column not in ("category", "option", "status") else "left")
        style = {"completed": "green", "failed": "red", "incomplete": "yellow"}
        for row in (row for row in table if row["model"] == model):
            marker = " [bold]★ best[/]" if row["best"] else ""
            view.add_row(row["category"], f"{row['option']}{marker}", f"[{style[row['status']]}]{row['status']}[/]",
                         _number(row["val_f1"]), _number(row["val_acc"]), str(row["best_epoch"] or ""),
                         str(row["epochs_run"] or ""),
                         format_duration(row["minutes"] * 60) if row["minutes"] is not None else "")
        out.print(view)
    summary = totals(table)
    out.print(f"{summary['jobs']} jobs: {summary['completed']} completed, {summary['failed']} failed, "
              f"{summary['incomplete']} incomplete")
    if summary["best_val_f1"] is not None:
        out.print(f"macro F1 best {summary['best_val_f1']:.4f}, mean {summary['mean_val_f1']:.4f}; "
                  f"accuracy best {summary['best_val_acc']:.4f}; mean time "
                  f"{format_duration(summary['mean_minutes'] * 60)} per completed job")


def write_csv(table: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)


def write_markdown(table: list[dict], path: Path, images: list[Path]) -> None:
    """Markdown tables per model, the totals, and the plots embedded by paths relative to the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Sweep summary", ""]
    for model in dict.fromkeys(row["model"] for row in table):
        lines += [f"## {model}", "",
                  "| category | option | status | val F1 | val acc | best epoch | epochs | minutes |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for row in (row for row in table if row["model"] == model):
            option = f"**{row['option']}** (best)" if row["best"] else row["option"]
            lines.append(f"| {row['category']} | {option} | {row['status']} | {_number(row['val_f1'])} | "
                         f"{_number(row['val_acc'])} | {row['best_epoch'] or ''} | {row['epochs_run'] or ''} | "
                         f"{_number(row['minutes'], 2)} |")
        lines.append("")
    summary = totals(table)
    lines.append(f"{summary['jobs']} jobs: {summary['completed']} completed, {summary['failed']} failed, "
                 f"{summary['incomplete']} incomplete.")
    lines.append("")
    lines += [f"![{image.stem}]({image.relative_to(path.parent)})" for image in images]
    path.write_text("\n".join(lines) + "\n")
