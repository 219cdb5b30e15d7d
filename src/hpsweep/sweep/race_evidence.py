"""What a race's finished trainings say, read once each and fitted as the verdict fits them: the evidence every
race test (elimination, futility, equivalence, efficacy) is a contrast of (``hpsweep.decide.inference``)."""

from pathlib import Path

from hpsweep.core.statuses import TrainingStatus
from hpsweep.core.trainings import BASE
from hpsweep.decide.inference import Evidence, Run
from hpsweep.decide.results import TrainingResult, held_out
from hpsweep.sweep.outcomes import Outcome


def row_name(comparison, option: str) -> str:
    """A comparison's row in its group's evidence: the base's trainings are one row in every comparison."""
    return BASE if option == comparison.base else f"{comparison.key[3]}/{option}"


class Finished:
    """The race's completed trainings, each record and its predictions read once: ``ready()`` runs after every
    training, and a sweep's evidence is fitted again each time."""

    def __init__(self, metric: str):
        self.metric = metric
        self.results: dict[Path, TrainingResult] = {}

    def run(self, outcome: Outcome) -> Run | None:
        """A completed training's run (value, images, predictions read when asked); None until it completed."""
        record = outcome.result or outcome.previous or {}
        value = (record.get("metrics") or {}).get(self.metric)
        if record.get("status") != TrainingStatus.COMPLETED or not isinstance(value, (int, float)):
            return None
        if outcome.directory not in self.results:
            self.results[outcome.directory] = TrainingResult(outcome.directory, record, {})
        result = self.results[outcome.directory]
        return Run(float(value), result.validated_on(self.metric), lambda: result.labels(self.metric))

    def evidence(self, comparisons) -> Evidence:
        """The completed trainings of these comparisons (one group's: one model, setting and stage), fitted
        together."""
        runs: dict[str, dict[str, Run]] = {}
        for comparison in comparisons:
            for option, rounds in comparison.rows.items():
                for outcome in rounds.values():
                    found = self.run(outcome)
                    if found is not None:
                        runs.setdefault(row_name(comparison, option), {})[" ".join(outcome.training.replicate)] = found
        return Evidence.of(runs, self.metric, held_out(self.results.values()))
