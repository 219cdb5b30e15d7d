"""Greedy staged sweeps: the named categories in order, each stage's winners carried into the next stage's base.

Stage k's plan depends on the decisions of the stages before it, recorded in ``decisions.json`` in the sweep
dir with the fingerprints they were made from: a re-run reads a decision instead of making it again, as
long as the stage's trainings are the same.
"""

from dataclasses import replace
from pathlib import Path

from hydra.core.override_parser.types import Override

from hpsweep.core.display import console
from hpsweep.core.records import write_json_atomic
from hpsweep.core.trainings import Training, bare_key
from hpsweep.decide.answers import answer
from hpsweep.decide.results import load
from hpsweep.decide.stage_record import DECISIONS_FILE, read_decisions
from hpsweep.sweep.plan import PlanRequest, override_values, parse_overrides, plan_jobs, rows_of


def stage_categories(overrides: list[Override], request: PlanRequest) -> list[str]:
    """The categories of a greedy sweep, in the order given (replicate categories are repeats, not stages)."""
    return [name for name in _category_names(overrides, request) if name not in request.replicate_keys]


def _category_names(overrides: list[Override], request: PlanRequest) -> list[str]:
    category = next((override for override in overrides if bare_key(override) == "category"), None)
    return override_values(category, list(request.all_categories)) if category is not None else []


def plan_stage(overrides: list[Override], request: PlanRequest, union: list[Training], category: str, stage: int,
               winners: dict[tuple, list[str]]) -> list[Training]:
    """Stage ``stage``'s trainings: ``category`` around each model's (and setting's) base with the winners of the
    stages before (``winners``: (model, setting) -> their overrides, such as ``optimizer=SGD``)."""
    repeated = [name for name in _category_names(overrides, request) if name in request.replicate_keys]
    swept = {bare_key(override) for override in overrides if override.is_sweep_override()}
    others = [override.input_line for override in overrides
              if bare_key(override) not in ("category", "model")
              and not (bare_key(override) in swept and bare_key(override) not in request.replicate_keys)]
    trainings = []
    for model, setting in dict.fromkeys((row.model, row.setting) for row in rows_of(union)):
        head = [f"model={model}"] if model and request.group_options("model") else []
        key = next(override.get_key_element() for override in overrides if bare_key(override) == "category")
        arguments = [*head, f"{key}={','.join([category, *repeated])}", *others, *setting,
                     *winners.get((model, setting), [])]
        for training in plan_jobs(parse_overrides(arguments), request, stage):
            rows = tuple(replace(row, setting=setting) for row in training.rows)
            trainings.append(replace(training, rows=rows))
    return trainings


class Decisions:
    """``decisions.json``: per stage, per model and setting, the winner and why, and the overrides that carry
    every winner so far into the next stage."""

    def __init__(self, sweep_dir: Path):
        self.path = Path(sweep_dir) / DECISIONS_FILE
        self.stages = read_decisions(sweep_dir)

    def recorded(self, stage: int, category: str, fingerprints: list[str]) -> list[dict] | None:
        """The decisions an earlier run made for this stage from these very trainings, if any."""
        for item in self.stages:
            if (item["stage"], item["category"], item["fingerprints"]) == (stage, category, fingerprints):
                return item["decisions"]
        return None

    def decide(self, stage: int, category: str, fingerprints: list[str], winners: dict[tuple, list[str]],
               request: PlanRequest) -> list[dict]:
        """Decide the stage from its results (``hpsweep.report``'s rule) and record it."""
        decisions = []
        sweep = next(sweep for sweep in load([self.path.parent]) if sweep.directory == self.path.parent)
        for group in answer([sweep]):
            if group.stage != stage or not group.categories:
                continue
            verdict = group.categories[0].verdict
            carried = list(winners.get((group.model, group.setting), []))
            if verdict.winner not in (None, "base") and not verdict.kept_base:
                add = "" if category in request.default_choices else "+"
                carried.append(f"{add}{category}={verdict.winner}")
            decisions.append({"model": group.model, "setting": list(group.setting), "winner": verdict.winner,
                              "kept_base": verdict.kept_base, "reason": verdict.reason, "notes": verdict.notes,
                              "overrides": carried})
        self.stages = [item for item in self.stages if item["stage"] != stage]
        self.stages.append({"stage": stage, "category": category, "fingerprints": fingerprints,
                            "decisions": decisions})
        write_json_atomic(self.path, {"stages": sorted(self.stages, key=lambda item: item["stage"])})
        return decisions


def print_stage(stage: int, category: str, decisions: list[dict]) -> None:
    out = console()
    for item in decisions:
        setting = " ".join(item["setting"])
        winner = "base kept" if item["kept_base"] else item["winner"]
        out.print(f"stage {stage} ({category}), {item['model']}{' ' + setting if setting else ''}: {winner} - "
                  f"{item['reason']}", soft_wrap=True, markup=False)
