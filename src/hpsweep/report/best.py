"""``hpsweep best``: the best option of each category, per model, written as a Hydra experiment config."""

from datetime import datetime
from pathlib import Path

from hpsweep.naming import project_name
from hpsweep.report.results import JobResult, best_by_category


def experiment_name(model: str) -> str:
    return f"best_{project_name(model)}"


def experiment_yaml(model: str, winners: dict[str, JobResult], metric: str, default_groups: set[str],
                    sources: list[str]) -> str:
    """An experiment config (``python run_experiments.py +experiment=best_<model>``) that sets each
    category to its winner; each line says which job and value chose it."""
    any_winner = next(iter(winners.values()))
    model_option = (any_winner.record.get("choices") or {}).get("model", model)
    lines = [
        "# @package _global_",
        f"# The best option of each category for {model}, by {metric}, chosen by `hpsweep best "
        f"{' '.join(sources)}` on {datetime.now():%Y-%m-%d %H:%M}.",
        f"# Run it: python run_experiments.py +experiment={experiment_name(model)}",
        "defaults:",
        f"  - override /model: {model_option}",
    ]
    for category, job in winners.items():
        # groups of the base defaults list are overridden; a category outside it is added
        entry = f"override /{category}" if category in default_groups else f"/{category}"
        lines.append(f"  - {entry}: {job.option}  # {metric} {job.metric(metric):.4f} in {job.directory}")
    return "\n".join(lines) + "\n"


def write_best(results: list[JobResult], out_dir: Path, metric: str, default_groups: set[str],
               sources: list[str]) -> list[Path]:
    """One ``best_<model>.yaml`` per model into ``out_dir``; returns the files written."""
    winners: dict[str, dict[str, JobResult]] = {}
    higher_is_better = metric != "val_loss"
    for (model, category), job in best_by_category(results, metric, higher_is_better).items():
        winners.setdefault(model, {})[category] = job
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for model, by_category in winners.items():
        path = out_dir / f"{experiment_name(model)}.yaml"
        path.write_text(experiment_yaml(model, by_category, metric, default_groups, sources))
        written.append(path)
    return written
