"""Racing replicates: the options of a comparison are trained replicate by replicate, and an option that a test
finds clearly worse than the comparison's leader stops there (F-race, irace; SMAC's intensification over
seeds). Its remaining replicates are never trained; the verdict counts it as a loser.

A *comparison* is one model's category in one setting and stage; its *rows* are the category's options and the
base. Round ``r`` is every row's ``r``-th replicate (seeds, folds, in the order the plan lists them). Once every
row still in the race has done ``race_from`` rounds or more, each row other than the base and the current leader
(the best adjusted mean so far) is tested against the leader by a contrast of the group's pooled model
(``hpsweep.decide.inference``, as the verdict tests); where it is worse with p < alpha, it is eliminated. A row's
next replicate may start as soon as its comparison has done the round before it and tested it, whatever other
comparisons do (no barrier across comparisons). Replicates are trained on demand: the base runs one replicate ahead
of its rows (``LEAD``: its second seed is what a first look tests one run of each row against): its replicate
``k + 1`` may start with its rows' replicate ``k``, where a comparison of its model is still undecided (its
trainings answer every comparison of its model), and none once every one is decided. Where several trainings may
start, the one the most undecided comparisons wait for goes first.

With futility stopping, a row that more replicates would not decide stops too; with efficacy stopping, a leader
that beats the base at a look's boundary wins, and its comparison stops. Each way a row leaves the race is a rule of
``hpsweep.sweep.race_rules``; ``RULES`` lists them in the order a look applies them.

Eliminations and stops are recorded in ``race.json`` in the sweep dir, so that a re-run goes on from them (a
recorded stop stands while the results it was made from are still there), and the reports read them.
"""

import logging
from pathlib import Path

from hpsweep.core.records import write_json_atomic
from hpsweep.core.statuses import RowStatus, StopKind
from hpsweep.core.trainings import BASE
from hpsweep.decide.inference import Evidence
from hpsweep.decide.race_record import (
    RACE_FILE,
    Phrase,
    comparison_key,
    decisive,
    phrase,
    read_race,
    untrained_status,
)
from hpsweep.decide.statistics import Candidate
from hpsweep.sweep.outcomes import Outcome, collect_outcomes
from hpsweep.sweep.race_evidence import Finished, row_name
from hpsweep.sweep.race_rules import DONE, RULES, Comparison, Look, Settings, undecided

log = logging.getLogger(__name__)

UNTRAINED = (RowStatus.ELIMINATED, RowStatus.STOPPED)  # a training racing never trains
# how many replicates the base runs ahead of its rows: one, so that a first look has the base's seed luck to test one
# run of each row against (control seeds, which would measure it, are planned only where no replicate is swept)
LEAD = 1


class Race:
    """The state of the race over a list of outcomes (one stage's, or a union sweep's): which pending trainings
    may run now, and which rows are out."""

    def __init__(self, sweep_dir: Path, outcomes: list[Outcome], metric: str, higher_is_better: bool, alpha: float,
                 race_from: int, enabled: bool = True, futility: float = 0.0, min_effect: float | None = None,
                 efficacy: str | None = None):
        self.path = Path(sweep_dir) / RACE_FILE
        self.metric = metric
        self.race_from = race_from
        self.settings = Settings(alpha, higher_is_better, futility, min_effect, efficacy)
        self.rules = [rule for rule in RULES if rule.on(self.settings)]  # race_rules: what stops a row, in order
        self.outcomes = outcomes
        # the base's control seeds are no round: they measure seed luck where no replicate is swept
        replicates = list(dict.fromkeys(outcome.training.replicate for outcome in outcomes
                                        if not outcome.training.control))
        self.round = {replicate: number for number, replicate in enumerate(replicates)}
        self.enabled = enabled and len(replicates) > 1
        self.comparisons: dict[tuple, Comparison] = {}
        self.finished = Finished(metric)  # each done training's record and predictions, read once
        if self.enabled:
            self._build()
            recorded = read_race(sweep_dir)
            for key, comparison in self.comparisons.items():
                for option, why in recorded.get(key, {}).items():
                    # it stands while the results it was made from are there (one set aside is trained again)
                    if option in comparison.rows and comparison.rounds_done(option) >= why["after"]:
                        comparison.eliminated[option] = why

    def _build(self) -> None:
        bases = []
        for outcome in self.outcomes:
            training = outcome.training
            if training.trial is not None:
                continue  # a searched option's trials are asked and told by its study, not raced
            if training.is_base:
                bases.append(outcome)
            for row in training.rows:
                if row.category:
                    key = comparison_key(training.model, training.setting, row.stage, row.category)
                    comparison = self.comparisons.setdefault(key, Comparison(key))
                    comparison.rows.setdefault(row.option, {})[self.round[training.replicate]] = outcome
                    if training.is_base:
                        comparison.base = row.option
        for outcome in bases:  # the base competes in every comparison of its model, as ``base`` where no row holds it
            training = outcome.training
            for key, comparison in self.comparisons.items():
                if key[:3] == (training.model, training.setting, training.stage) and \
                        (comparison.base in (None, BASE)):
                    comparison.base = BASE
                    comparison.rows.setdefault(BASE, {})[self.round[training.replicate]] = outcome

    def _comparisons_of(self, outcome: Outcome) -> list[tuple[Comparison, str]]:
        """The comparisons a training answers a row of, with that row: the base's, every one of its model that it
        is the base of (as its own option, or as ``base``)."""
        if outcome.training.is_base:
            return [(comparison, comparison.base) for comparison in self.comparisons.values()
                    if any(member is outcome for member in comparison.rows.get(comparison.base, {}).values())]
        training = outcome.training
        return [(self.comparisons[key], row.option) for row in training.rows if row.category
                and (key := comparison_key(training.model, training.setting, row.stage, row.category))
                in self.comparisons]

    def _stop_base(self, places: list[tuple[Comparison, str]]) -> None:
        """Record the base stopped in each decided comparison whose rules left it running (every other row out):
        nothing is left to decide there, so its further replicates answer nothing."""
        for comparison, option in places:
            if option not in comparison.eliminated:
                comparison.eliminated[option] = undecided(
                    comparison.rounds_done(option), option, StopKind.FUTILE, Phrase.ALONE, None,
                    "the base: every other row is decided, so more replicates cannot change this comparison")
        self._record()

    def ready(self) -> list[Outcome]:
        """The pending trainings that may run now, earliest round first; those of rows the race eliminated are
        marked ``eliminated`` and left out. Trainings answered by a carrier that is done take its answer first."""
        self.collect_answered()
        self.update()
        ready, needs = [], {}
        for outcome in self.outcomes:
            if outcome.status != RowStatus.PENDING:
                continue
            places = self._comparisons_of(outcome) if self.enabled else []
            if places and all(option in comparison.eliminated for comparison, option in places):
                outcome.status = untrained_in(places)
                continue
            number = self.round.get(outcome.training.replicate, 0)
            live = [comparison for comparison, option in places if option not in comparison.eliminated]
            if outcome.training.is_base and places:  # needed where a comparison of its model is undecided, this far
                live = [comparison for comparison in live if comparison.undecided()]
                if not live:
                    self._stop_base(places)
                    outcome.status = untrained_in(places)
                    continue
                if number > LEAD and not any(comparison.rounds_complete() >= number - LEAD for comparison in live):
                    continue
            elif not all(comparison.rounds_complete() >= number for comparison in live):
                continue
            ready.append(outcome)
            needs[id(outcome)] = len(live)
        if any(outcome.status == RowStatus.ANSWERED and outcome.answered_by.status in UNTRAINED
               for outcome in self.outcomes):
            return self.ready()  # a carrier stopped in this pass: its members are trainings of their own again
        order = {id(outcome): number for number, outcome in enumerate(self.outcomes)}
        return sorted(ready, key=lambda outcome: (self.round.get(outcome.training.replicate, 0), -needs[id(outcome)],
                                                  order[id(outcome)]))

    def after(self, ended: Outcome) -> list[Outcome]:
        """What may run now that ``ended`` is done: ``ready()`` where its end can change that (a raced row's
        replicate, the carrier of a shared trajectory), else nothing, at no cost: a work queue asks after every
        training, and a sweep of 10,000 plain jobs must not read 10,000 statuses each time."""
        return self.ready() if self.enabled or ended.answers else []

    def collect_answered(self) -> None:
        """Read the results a finished carrier wrote for the trainings it answers (``hpsweep.sweep.trajectories``);
        one it could not answer is recorded failed, naming it, and trains on its own when the sweep runs again."""
        for outcome in self.outcomes:
            carrier = outcome.answered_by
            if outcome.status == RowStatus.ANSWERED and carrier.status in UNTRAINED:
                # its carrier never trains: it is a training of its own again, which its own row's stop may stop
                outcome.status, outcome.answered_by = RowStatus.PENDING, None
                carrier.answers.remove(outcome)
            elif outcome.status == RowStatus.ANSWERED and carrier.status in DONE:
                outcome.launch_error = (f"the training it shares its trajectory with ({carrier.training.label}) "
                                        f"ended {carrier.status} without answering it")
                collect_outcomes([outcome], self.metric)

    def update(self) -> None:
        """Test every comparison whose rows have done ``race_from`` rounds or more; record what is eliminated."""
        if not self.enabled:
            return
        changed, evidence = False, {}
        for key, comparison in self.comparisons.items():
            if comparison.rounds_complete() >= self.race_from:
                if key[:3] not in evidence:
                    evidence[key[:3]] = self.finished.evidence(
                        other for group, other in self.comparisons.items() if group[:3] == key[:3])
                changed |= self._eliminate(comparison, evidence[key[:3]])
        if changed:
            self._record()

    def _eliminate(self, comparison: Comparison, evidence: Evidence) -> bool:
        """Look at the comparison: apply each rule in turn, and record the rows they stop."""
        done = comparison.rounds_complete()
        if done < self.race_from:
            return False
        look = Look(comparison, done, evidence, self.settings, lambda option: self._candidate(comparison, option, done))
        changed = False
        for rule in self.rules:
            if (rule.needs_leader and look.leader is None) or (rule.early and not look.saves):
                continue
            for option, why in rule.decide(look).items():
                comparison.eliminated[option] = why
                if option != comparison.base:  # the base trains on for its model's other comparisons
                    log.info("%s %s/%s: no more replicates after %d, %s", comparison.key[0], comparison.key[3],
                             option, done, phrase(why, option))
                changed = True
        return changed

    def _candidate(self, comparison: Comparison, option: str, rounds: int) -> Candidate | None:
        """The row's first ``rounds`` replicates as a statistics candidate; None unless all completed."""
        values = {}
        for number in range(rounds):
            outcome = comparison.rows[option].get(number)
            run = self.finished.run(outcome) if outcome is not None else None
            if run is None:
                return None
            values[" ".join(outcome.training.replicate)] = run.value
        return Candidate(option, values, complete=True, is_base=option == comparison.base,
                         row=row_name(comparison, option))

    def _record(self) -> None:
        recorded = read_race(self.path.parent)  # another driver's eliminations are kept
        for key, comparison in self.comparisons.items():
            recorded[key] = {**recorded.get(key, {}), **comparison.eliminated}
        write_json_atomic(self.path, {"comparisons": [
            {"model": key[0], "setting": list(key[1]), "stage": key[2], "category": key[3], "eliminated": eliminated}
            for key, eliminated in recorded.items()]})  # undecided ones too: the base stops once all are decided

    def settled(self) -> bool:
        """Whether nothing is left to train: every training done or eliminated."""
        self.ready()
        return all(outcome.status in (*DONE, *UNTRAINED) for outcome in self.outcomes)


def untrained_in(places: list[tuple[Comparison, str]]) -> str:
    """The status of a training whose every row (``places``) racing stopped: why the decisive stop says."""
    return untrained_status(decisive([comparison.eliminated[option] for comparison, option in places]))


def training_bounds(trainings, race_from: int) -> tuple[int, int]:
    """(fewest, most) trainings the race can take: at fewest, every row is decided after ``race_from`` replicates,
    the base's ``LEAD`` ahead of them; searched trials always train."""
    replicates = list(dict.fromkeys(training.replicate for training in trainings))
    if len(replicates) < 2:
        return len(trainings), len(trainings)
    first, base_first = set(replicates[:race_from]), set(replicates[:race_from + LEAD])
    fewest = sum(1 for training in trainings if training.trial is not None
                 or training.replicate in (base_first if training.is_base else first))
    return fewest, len(trainings)
