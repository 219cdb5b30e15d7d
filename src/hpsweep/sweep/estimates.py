"""Time estimates for jobs, from the ``result.json`` files of earlier runs."""

from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

from hpsweep.report.results import gather


@dataclass
class Estimator:
    """Seconds per job: the mean of past completed runs of the same model, category and option, else of
    the same model; None where the model never ran (another model's times would mislead)."""

    durations: dict[tuple, list[float]] = field(default_factory=dict)
    count: int = 0

    @classmethod
    def from_results(cls, directories: list[Path]) -> "Estimator":
        estimator = cls()
        for result in gather(directories):
            if result.status == "completed" and result.record.get("duration_s") is not None:
                estimator.add(result.model, result.category, result.option, result.record["duration_s"])
        return estimator

    def add(self, model: str, category: str | None, option: str | None, seconds: float) -> None:
        self.count += 1
        for key in ((model, category, option), (model,)):
            self.durations.setdefault(key, []).append(seconds)

    def seconds(self, model: str, category: str | None, option: str | None) -> float | None:
        for key in ((model, category, option), (model,)):
            if key in self.durations:
                return mean(self.durations[key])
        return None
