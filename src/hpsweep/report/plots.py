"""Plots of a sweep, as PNG files: val macro F1 per option, and the validation curves of the winners."""

import csv
from pathlib import Path

from hpsweep.naming import project_name
from hpsweep.report.results import JobResult, best_by_category


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def option_bars(results: list[JobResult], directory: Path) -> list[Path]:
    """Per model, one bar chart per category of val macro F1 per option; failed options drawn as such."""
    plt = _pyplot()
    written = []
    best = best_by_category(results)
    for model in dict.fromkeys(result.model for result in results if result.category):
        categories = list(dict.fromkeys(r.category for r in results if r.model == model and r.category))
        columns = min(3, len(categories))
        grid_rows = -(-len(categories) // columns)
        figure, axes = plt.subplots(grid_rows, columns, figsize=(5 * columns, 3.6 * grid_rows), squeeze=False)
        for axis, category in zip(axes.flat, categories, strict=False):
            jobs = [r for r in results if r.model == model and r.category == category]
            labels = [job.option or "?" for job in jobs]
            values = [job.metric("val_f1") or 0.0 for job in jobs]
            colors = ["#2a9d8f" if job is best.get((model, category)) else
                      "#e76f51" if job.status != "completed" else "#8ab6d6" for job in jobs]
            bars = axis.bar(range(len(jobs)), values, color=colors)
            for bar, job, value in zip(bars, jobs, values, strict=True):
                text = f"{value:.3f}" if job.status == "completed" else job.status
                axis.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                              va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
            axis.set_xticks(range(len(jobs)), labels, rotation=20, ha="right", fontsize=8)
            axis.set_ylim(0, 1.08)
            axis.set_ylabel("val macro F1")
            axis.set_title(category)
        for axis in list(axes.flat)[len(categories):]:
            axis.set_visible(False)
        figure.suptitle(f"{model}: val macro F1 per option (green: best, red: not completed)")
        written.append(_save(plt, figure, directory / f"{project_name(model)}_options.png"))
    return written


def best_curves(results: list[JobResult], directory: Path) -> list[Path]:
    """Per model, the validation macro F1 and loss per epoch of the best option of each category."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    written = []
    best = best_by_category(results)
    for model in dict.fromkeys(model for model, _ in best):
        figure, (f1_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4))
        for (owner, category), job in best.items():
            if owner != model or not job.history_path.is_file():
                continue
            with open(job.history_path) as handle:
                history = list(csv.DictReader(handle))
            epochs = [int(row["epoch"]) for row in history]
            label = f"{category}: {job.option}"
            for axis, key in ((f1_axis, "val_f1"), (loss_axis, "val_loss")):
                if history and key in history[0]:  # an external script may log only some of them
                    axis.plot(epochs, [float(row[key]) for row in history], marker="o", label=label)
        for axis, name in ((f1_axis, "val macro F1"), (loss_axis, "val loss")):
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_xlabel("epoch")
            axis.set_ylabel(name)
            axis.grid(alpha=0.3)
        f1_axis.legend(fontsize=8)
        figure.suptitle(f"{model}: validation curves of the best option per category")
        written.append(_save(plt, figure, directory / f"{project_name(model)}_best_curves.png"))
    return written


def _save(plt, figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
