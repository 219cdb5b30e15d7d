"""Time estimates for planned trainings, from the ``result.json`` files of earlier ones.

A past training's epochs (``epoch_s`` in its history) are turned into seconds per epoch per pixel (its
image side squared), the way a convnet's cost grows, and scaled to a planned training's epochs and image
size, plus what the past job spent outside its epochs (start-up, model, data): an img512 job at 30 epochs
is not estimated at the speed of a 32-pixel job of 5 epochs. It is an upper bound where early stopping or
pruning ends a job sooner.
"""

from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

from hpsweep.core.display import format_duration
from hpsweep.core.records import read_history
from hpsweep.core.statuses import TrainingStatus
from hpsweep.decide.results import gather


@dataclass
class Estimator:
    """Seconds per epoch per pixel: of past completed trainings of the same model, category and option, else
    of the same model; none where the model never ran (another model's speed would mislead)."""

    rates: dict[tuple, list[tuple[float, float]]] = field(default_factory=dict)  # (fixed s, s per epoch-pixel)
    models: dict[str, int] = field(default_factory=dict)  # past results per model

    @classmethod
    def from_results(cls, directories: list[Path]) -> "Estimator":
        estimator = cls()
        for result in gather(directories):
            size = (result.record.get("setup") or {}).get("image_size")
            if result.status != TrainingStatus.COMPLETED or not result.duration_s or not isinstance(size, int) or \
                    not result.history_path.is_file():
                continue
            epochs = [row["epoch_s"] for row in read_history(result.history_path) if "epoch_s" in row]
            if epochs:
                estimator.add(result.model, result.category, result.option,
                              max(result.duration_s - sum(epochs), 0.0), mean(epochs) / size ** 2)
        return estimator

    def add(self, model: str, category: str | None, option: str | None, fixed_s: float, rate: float) -> None:
        self.models[model] = self.models.get(model, 0) + 1
        for key in ((model, category, option), (model,)):
            self.rates.setdefault(key, []).append((fixed_s, rate))

    def seconds(self, model: str, category: str | None, option: str | None, epochs: int,
                image_size: int) -> float | None:
        for key in ((model, category, option), (model,)):
            if key in self.rates:
                fixed_s, rate = (mean(values) for values in zip(*self.rates[key], strict=True))
                return fixed_s + rate * epochs * image_size ** 2
        return None

    def describe(self, known: list[float], trainings: int, models: set, looked_in: list[Path]) -> str:
        """A line saying the estimate and what it rests on, or why there is none."""
        used = sorted(model for model in models if model in self.models)
        where = ", ".join(map(str, looked_in))
        if not used:
            others = sum(self.models.values())
            return (f"no time estimate: no past results of {', '.join(sorted(map(str, models)))} in {where}"
                    + (f" ({others} of other models)" if others else "")
                    + "; --results DIR, or hydra.sweep.dir= a sweep dir with results, gives one")
        return (f"estimated time: {format_duration(sum(known))} for {len(known)} of {trainings} trainings, run one "
                f"after another, from {sum(self.models[model] for model in used)} past results of {', '.join(used)} "
                f"in {where} (their seconds per epoch per pixel, scaled to each job's epochs and image size, and "
                "their time outside epochs; less where early stopping or pruning ends jobs sooner)")
