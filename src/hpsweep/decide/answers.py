"""The answer of a sweep: its rows, each with its replicates, compared category by category.

A comparison (a ``Group``) is one sweep's rows for one model, setting and stage: only rows trained alike
are compared. Each category is decided by ``hpsweep.decide.statistics.decide`` against the base
combination, which competes as an option where it is none of the category's options.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from hpsweep.core.provenance import code_identity, code_label, compared_packages
from hpsweep.core.statuses import RowStatus, StopKind, TrainingStatus
from hpsweep.core.trainings import BASE
from hpsweep.decide.inference import Evidence, Run
from hpsweep.decide.race_record import STOPS, comparison_key, read_race, stop_kind, won
from hpsweep.decide.results import Sweep, TrainingResult, held_out
from hpsweep.decide.statistics import (
    Aggregate,
    Candidate,
    Test,
    Verdict,
    compare,
    correct,
    decide,
    efficacy_boundaries,
    what_would_decide,
)


@dataclass
class RowResult:
    """One row: an option of a category (or the base combination), with one training per replicate."""

    model: str | None
    category: str | None
    option: str
    trainings: list[TrainingResult] = field(default_factory=list)
    trial: int | None = None  # a trial of a searched option
    trials: list["RowResult"] = field(default_factory=list)  # a searched option's every trial (this: the best)
    eliminated: dict | None = None  # racing stopped it (``race.json``): after how many replicates, how and why

    @property
    def stopped(self) -> str | None:
        """How racing stopped it: ``eliminated`` (clearly worse), ``futile``, ``equivalent`` or ``efficacy``; None:
        it was not."""
        return stop_kind(self.eliminated) if self.eliminated is not None else None

    @property
    def is_base(self) -> bool:
        return bool(self.trainings) and all(training.is_base for training in self.trainings)

    def values(self, metric: str) -> dict[str, float]:
        return {training.replicate: training.metric(metric) for training in self.trainings
                if training.status == TrainingStatus.COMPLETED and training.metric(metric) is not None}

    def aggregate(self, metric: str) -> Aggregate:
        values = self.values(metric)
        return Aggregate(tuple(values[key] for key in sorted(values)))

    @property
    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for training in self.trainings:
            counts[training.status] = counts.get(training.status, 0) + 1
        return counts

    @property
    def status(self) -> str:
        """completed when every replicate is; eliminated when racing stopped it; else the worst state among them."""
        if self.stopped == StopKind.ELIMINATED:
            return RowStatus.ELIMINATED
        for status in (TrainingStatus.FAILED, TrainingStatus.PRUNED, RowStatus.INCOMPLETE, RowStatus.PENDING):
            if status in self.statuses:
                return status
        return TrainingStatus.COMPLETED

    @property
    def name(self) -> str:
        """Its row in its group's evidence: the base's trainings are one row, whichever categories they answer."""
        trial = f"#{self.trial}" if self.trial is not None else ""
        return BASE if self.is_base else f"{self.category}/{self.option}{trial}"

    def runs(self, metric: str) -> dict[str, Run]:
        """Its completed replicates as evidence: the value, the images validated on and (read when asked) the
        predictions."""
        return {training.replicate: Run(training.metric(metric), training.validated_on(metric),
                                        lambda training=training: training.labels(metric))
                for training in self.trainings
                if training.status == TrainingStatus.COMPLETED and training.metric(metric) is not None}

    def candidate(self, metric: str) -> Candidate:
        why = self.eliminated
        return Candidate(self.option, self.values(metric), complete=self.status == TrainingStatus.COMPLETED,
                         is_base=self.is_base,
                         stopped=self.stopped, stop_reason=f"stopped after {why['after']}: {why['reason']}"
                         if why else None, won=won(why, self.option),
                         stagewise=_probability(why.get("stagewise")) if won(why, self.option) else None,
                         row=self.name,
                         runs=lambda: self.runs(metric))


@dataclass
class CategoryAnswer:
    category: str
    rows: list[RowResult]  # the options, then the base where it is none of them
    verdict: Verdict | None  # None until its family of comparisons is corrected
    tests: dict[str, Test] = field(default_factory=dict)  # each option against the base, before the verdict

    @property
    def made_by(self) -> list[TrainingResult]:
        """The trainings whose numbers this comparison compares (its rows' completed ones)."""
        return [training for row in self.rows for training in row.trainings
                if training.status == TrainingStatus.COMPLETED]

    @property
    def code_versions(self) -> list[str]:
        return code_versions(self.made_by)

    @property
    def mixed_code(self) -> bool:
        """Its numbers come from more than one code version (a record without one counts as one of its own)."""
        return len({code_identity(training.provenance) for training in self.made_by}) > 1

    @property
    def mixed_packages(self) -> bool:
        return len({tuple(compared_packages(training.provenance.get("packages")).items())
                    for training in self.made_by if training.provenance}) > 1

    def against_base(self, row: RowResult) -> Test | None:
        return self.verdict.against_base.get(row.option)

    def is_winner(self, row: RowResult) -> bool:
        return row.option == self.verdict.winner


@dataclass
class Group:
    """The rows of one sweep trained alike: one model, one setting, one stage."""

    sweep: Sweep
    model: str | None
    setting: tuple[str, ...]
    stage: int
    base: RowResult | None
    categories: list[CategoryAnswer]
    expected_false_wins: float = 0.0  # of its family's wins (its sweep's stage), by the sweep's correction

    @property
    def title(self) -> str:
        settings = [*self.sweep.fixed, *self.setting]
        stage = f", stage {self.stage}" if self.stage else ""
        where = f"{self.sweep.directory}{'; ' + ' '.join(settings) if settings else ''}"
        return f"{self.model or 'sweep'}{stage}  ({where})"

    @property
    def rows(self) -> list[tuple[str | None, RowResult]]:
        """(category, row) pairs in table order: the base alone first where no category holds it."""
        pairs = [(answer.category, row) for answer in self.categories for row in answer.rows]
        if self.base is not None and not self.categories:
            pairs.insert(0, (None, self.base))
        return pairs


def answer(sweeps: Iterable[Sweep]) -> list[Group]:
    """Every comparison in the sweeps, tested against its base on the evidence of its group, corrected over its
    family (a sweep's stage), each category decided."""
    groups = []
    for sweep in sweeps:
        race = read_race(sweep.directory)
        rows: dict[tuple, dict[tuple, RowResult]] = {}
        for training in sweep.trainings:
            for row in training.rows:
                key = (training.model, training.setting, row.get("stage", training.stage))
                row_key = (row["category"], row["option"], row.get("trial"))
                group_rows = rows.setdefault(key, {})
                group_rows.setdefault(row_key, RowResult(training.model, row["category"], row["option"],
                                                         trial=row.get("trial")))
                group_rows[row_key].trainings.append(training)
        families: dict[int, list[tuple[Group, CategoryAnswer, Evidence]]] = {}
        for (model, setting, stage), by_key in rows.items():
            group = Group(sweep, model, setting, stage, by_key.get((None, BASE, None)), [])
            looks = len({t.replicate for row in by_key.values() for t in row.trainings if not t.entry.get("control")})
            # the race's planned looks for an early win: the last look's p adds what the earlier ones spent
            boundaries = efficacy_boundaries(sweep.alpha, looks, sweep.spending) if sweep.spending else ()
            for category in dict.fromkeys(category for category, _, _ in by_key if category):
                group.categories.append(CategoryAnswer(category, _options(group, by_key, category, race), None))
            evidence = _evidence([*by_key.values(), *(row for answer_ in group.categories for row in answer_.rows)],
                                 sweep)
            for answer_ in group.categories:
                answer_.tests = compare(evidence, [row.candidate(sweep.metric) for row in answer_.rows],
                                        sweep.higher_is_better, sweep.alpha, boundaries)
                families.setdefault(stage, []).append((group, answer_, evidence))
            groups.append(group)
        for family in families.values():
            expected = correct([answer_.tests for _, answer_, _ in family], sweep.multiplicity, sweep.fdr)
            for group, answer_, evidence in family:
                group.expected_false_wins = expected
                answer_.verdict = _verdict(answer_, evidence, sweep)
    return groups


def _evidence(rows: list[RowResult], sweep: Sweep) -> Evidence:
    """A group's rows fitted together: every option of every category and the base (once), each with the
    replicates it was tested on."""
    runs = {row.name: row.runs(sweep.metric) for row in rows}  # a name twice: the same trainings
    return Evidence.of(runs, sweep.metric, held_out(training for row in rows for training in row.trainings))


def _options(group: Group, by_key: dict[tuple, RowResult], category: str, race: dict) -> list[RowResult]:
    """A category's rows: its options (a searched one as its best trial), then the base where it is none of them;
    each with racing's stop, and without the replicates racing never trained."""
    sweep, base = group.sweep, group.base
    options = best_trials([row for (owner, _, _), row in by_key.items() if owner == category],
                          sweep.metric, sweep.higher_is_better)
    if base is not None and not any(row.is_base for row in options):
        options.append(RowResult(group.model, category, BASE, base.trainings))
    for row in options:
        if row.is_base and base is not None:  # the base's option: every base training, its control seeds too
            row.trainings = list(base.trainings)
        row.eliminated = race.get(comparison_key(group.model, group.setting, group.stage, category), {}).get(row.option)
        if row.is_base and row.eliminated is not None:  # a stop only says that its comparisons needed no more of it:
            row.trainings = [training for training in row.trainings  # it answers with the replicates it trained
                             if training.status not in (RowStatus.ELIMINATED, RowStatus.STOPPED)]
            row.eliminated = None
        if row.stopped in STOPS and not any(t.status == RowStatus.STOPPED for t in row.trainings):
            row.eliminated = None  # stopped here, trained on for another comparison
        if row.eliminated is not None:  # its replicates never trained are not part of it
            row.trainings = [training for training in row.trainings
                             if training.status not in (RowStatus.PENDING, RowStatus.ELIMINATED, RowStatus.STOPPED)]
    return options


def _verdict(answer_: CategoryAnswer, evidence: Evidence, sweep: Sweep) -> Verdict:
    candidates = [row.candidate(sweep.metric) for row in answer_.rows]
    verdict = decide(candidates, answer_.tests, sweep.higher_is_better, sweep.fdr, evidence)
    stopped = [c.option for c in candidates if c.stopped]
    if sweep.redecided and stopped:  # --metric: the race stopped these by the sweep's own metric
        verdict.notes.append(f"{', '.join(stopped)}: stopped by the race on {sweep.redecided} (the sweep's own "
                             f"metric), not on {sweep.metric}")
    top = next((c for c in candidates if c.option == verdict.top), None)
    if verdict.undecided is not None and top is not None and not top.stopped:  # a stopped row: more would not do
        way = what_would_decide(verdict.undecided, sweep.alpha, replicate_kind(answer_.rows))
        verdict.notes += [way] if way else []
    return verdict


def _probability(value) -> float | None:
    """A p recorded in race.json, where it is one (another tool's or a damaged record's: none, and the last look
    decides)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1 \
        else None


def replicate_kind(rows: list[RowResult]) -> str:
    """What the rows' replicates are, in words: ``folds`` or ``seeds``."""
    keys = {key for row in rows for training in row.trainings for key in training.entry.get("replicate", {})}
    return "folds" if keys & {"fold", "data.fold"} else "seeds"


def code_versions(trainings: Iterable[TrainingResult]) -> list[str]:
    """The distinct code versions of these trainings, in words (``abc1234``, ``abc1234+dirty-<diff>``, ``no commit``,
    ``unrecorded`` for a record made before hpsweep recorded its code)."""
    labels = (("unrecorded" if training.provenance is None else code_label(training.provenance.get("code"))
               or "no commit") for training in trainings)
    return sorted(set(labels))


def best_trials(rows: list[RowResult], metric: str, higher_is_better: bool) -> list[RowResult]:
    """A searched option (a row per trial) stands in its category as its best trial by mean over replicates,
    among the trials that completed; its ``trials`` keep every trial, for the spread."""
    chosen: dict[str, RowResult] = {}
    result = []
    for row in rows:
        if row.trial is None:
            result.append(row)
            continue
        trials = [other for other in rows if other.option == row.option and other.trial is not None]
        if row.option not in chosen:
            complete = [trial for trial in trials
                        if trial.status == TrainingStatus.COMPLETED and trial.aggregate(metric).n]
            sign = 1.0 if higher_is_better else -1.0
            best = max(complete, key=lambda trial: sign * trial.aggregate(metric).mean) if complete else trials[0]
            best.trials = trials
            chosen[row.option] = best
            result.append(best)
    return result
