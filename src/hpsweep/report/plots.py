"""Plots of a sweep's answer, as PNG files: every replicate of every option with its mean and spread, and the
validation curves of each category's choice."""

from pathlib import Path

import numpy as np

from hpsweep.core.metrics import value_range
from hpsweep.core.naming import project_name
from hpsweep.core.records import read_history
from hpsweep.core.statuses import RowStatus, TrainingStatus
from hpsweep.decide.answers import Group

CHOSEN, OTHER, NOT_COMPLETED, BASE_LINE = "#2a9d8f", "#4f7cac", "#e76f51", "#888888"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _names(groups: list[Group]) -> list[str]:
    """A file name stem per group: the model's project name, numbered where a model has several comparisons."""
    stems = [project_name(group.model or "sweep") for group in groups]
    return [stem if stems.count(stem) == 1 else f"{stem}_{stems[:number].count(stem) + 1}"
            for number, stem in enumerate(stems)]


def error_bar(mean: float, std: float | None, metric: str) -> list[list[float]]:
    """The mean ± std as matplotlib's (below, above) lengths, clipped to the values the metric can take (an F1
    of 0.99 ± 0.05 does not reach 1.04)."""
    low, high = value_range(metric)
    spread = std or 0.0
    return [[mean - max(low, mean - spread)], [min(high, mean + spread) - mean]]


def option_plots(groups: list[Group], directory: Path) -> list[Path]:
    """Per comparison, ``option_figure`` as ``<model>_options.png``."""
    plt = _pyplot()
    return [_save(plt, figure, directory / f"{stem}_options.png")
            for group, stem in zip(groups, _names(groups), strict=True) if (figure := option_figure(group))]


def option_figure(group: Group):
    """One panel per category: each replicate as a dot, the mean with its standard deviation, the base's mean
    as a dashed line, on an axis fitted to the values (differences that matter stay visible); None without
    categories."""
    if not group.categories:
        return None
    plt = _pyplot()
    metric = group.sweep.metric
    columns = min(3, len(group.categories))
    grid_rows = -(-len(group.categories) // columns)
    figure, axes = plt.subplots(grid_rows, columns, figsize=(5 * columns, 3.8 * grid_rows), squeeze=False)
    for axis, answer in zip(axes.flat, group.categories, strict=False):
        shown = []
        for position, row in enumerate(answer.rows):
            values = list(row.values(metric).values())
            color = CHOSEN if answer.is_winner(row) else \
                OTHER if row.status == TrainingStatus.COMPLETED else NOT_COMPLETED
            if values:
                axis.scatter([position] * len(values), values, color=color, alpha=0.6, s=18, zorder=3)
                aggregate = row.aggregate(metric)
                axis.errorbar(position, aggregate.mean, yerr=error_bar(aggregate.mean, aggregate.std, metric),
                              fmt="_", markersize=18, color=color, capsize=4, zorder=4)
                shown += values
            if row.status != TrainingStatus.COMPLETED:
                axis.annotate(row.status, (position, min(values) if values else 0), ha="center", va="top",
                              fontsize=8, color=NOT_COMPLETED, xytext=(0, -4), textcoords="offset points")
        base = group.base.aggregate(metric).mean if group.base is not None else None
        if base is not None:
            axis.axhline(base, color=BASE_LINE, linestyle="--", linewidth=1, label="base mean")
            shown.append(base)
        if shown:
            low, high = min(shown), max(shown)
            margin = max((high - low) * 0.15, 0.005)
            axis.set_ylim(low - margin, high + margin)
        labels = [f"{row.option} (base)" if row.is_base and row.option != "base" else row.option
                  for row in answer.rows]
        axis.set_xticks(range(len(answer.rows)), labels, rotation=20, ha="right", fontsize=8)
        axis.set_xlim(-0.6, len(answer.rows) - 0.4)
        axis.set_ylabel(metric)
        verdict = answer.verdict
        chosen = "" if verdict.winner is None else ": base kept" if verdict.kept_base else f": {verdict.winner}"
        axis.set_title(answer.category + chosen)
        axis.grid(axis="y", alpha=0.3)
    for axis in list(axes.flat)[len(group.categories):]:
        axis.set_visible(False)
    figure.suptitle(f"{group.model or 'sweep'}: {metric} per option, every replicate "
                    "(green: chosen, red: not completed)")
    return figure


def curves_figure(group: Group):
    """One panel per category: every option's validation curve of the deciding metric (the mean over its
    replicates per epoch), a pruned or eliminated one where it stopped; None without histories."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    metric = group.sweep.metric
    panels = [(answer, row, [read_history(training.history_path) for training in row.trainings
                             if training.status != RowStatus.PENDING])
              for answer in group.categories for row in answer.rows]
    if not any(metric in history[0] for _, _, histories in panels for history in histories if history):
        return None
    columns = min(3, len(group.categories))
    grid_rows = -(-len(group.categories) // columns)
    figure, axes = plt.subplots(grid_rows, columns, figsize=(5 * columns, 3.5 * grid_rows), squeeze=False)
    by_category = {answer.category: axis for answer, axis in zip(group.categories, axes.flat, strict=False)}
    for answer, row, histories in panels:
        curves = [[line[metric] for line in history] for history in histories if history and metric in history[0]]
        if not curves:
            continue
        length = max(map(len, curves))  # replicates that stopped early end where they stopped
        means = [np.mean([curve[epoch] for curve in curves if epoch < len(curve)]) for epoch in range(length)]
        axis = by_category[answer.category]
        axis.plot(range(1, length + 1), means, marker=".", linewidth=2.5 if answer.is_winner(row) else 1.2,
                  linestyle="-" if row.status == TrainingStatus.COMPLETED else ":", label=f"{row.option} ({row.status})"
                  if row.status != TrainingStatus.COMPLETED else row.option)
    for answer, axis in by_category.items():
        axis.set_title(answer)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(group.categories):]:
        axis.set_visible(False)
    figure.suptitle(f"{group.model or 'sweep'}: {metric} of every option by epoch (mean of replicates)")
    return figure


def best_curves(groups: list[Group], directory: Path) -> list[Path]:
    """Per comparison, the validation curves of each category's choice: the mean over replicates per epoch,
    shaded from the lowest to the highest replicate."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    written = []
    for group, stem in zip(groups, _names(groups), strict=True):
        chosen = [(answer.category, row) for answer in group.categories for row in answer.rows
                  if answer.is_winner(row)]
        if not chosen:
            continue
        figure, (f1_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4))
        for category, row in chosen:
            histories = [read_history(training.history_path) for training in row.trainings]
            for axis, key in ((f1_axis, "val_f1"), (loss_axis, "val_loss")):
                curves = [[line[key] for line in history] for history in histories
                          if history and key in history[0]]  # an external script may log only some of them
                if not curves:
                    continue
                length = min(map(len, curves))
                stacked = np.array([curve[:length] for curve in curves])
                epochs = range(1, length + 1)
                line, = axis.plot(epochs, stacked.mean(axis=0), marker="o", label=f"{category}: {row.option}")
                if len(curves) > 1:
                    axis.fill_between(epochs, stacked.min(axis=0), stacked.max(axis=0), alpha=0.2,
                                      color=line.get_color())
        for axis, name in ((f1_axis, "val macro F1"), (loss_axis, "val loss")):
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_xlabel("epoch")
            axis.set_ylabel(name)
            axis.grid(alpha=0.3)
        if f1_axis.get_legend_handles_labels()[0]:  # another app's trainings may have no curves
            f1_axis.legend(fontsize=8)
        figure.suptitle(f"{group.model or 'sweep'}: validation curves of each category's choice "
                        "(mean and range of replicates)")
        written.append(_save(plt, figure, directory / f"{stem}_best_curves.png"))
    return written


def _save(plt, figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
