"""Racing replicates: the options of a comparison are trained replicate by replicate, and an option that a test
finds clearly worse than the comparison's leader stops there (F-race, irace; SMAC's intensification over
seeds). Its remaining replicates are never trained; the verdict counts it as a loser.

A *comparison* is one model's category in one setting and stage; its *rows* are the category's options and the
base. Round ``r`` is every row's ``r``-th replicate (seeds, folds, in the order the plan lists them). Once every
row still in the race has done ``race_from`` rounds or more, each row other than the base and the current leader
(the best adjusted mean so far) is tested against the leader by a contrast of the group's pooled model
(``hpsweep.decide.inference``, as the verdict tests); where it is worse with p < alpha, it is eliminated. A row's
next replicate may start as soon as its comparison has done the round before it and tested it, whatever other
comparisons do (no barrier across comparisons). The base never waits: its trainings answer every comparison of
its model, and its seeds are what a first round is tested against.

With futility stopping, a row that more replicates would not decide stops too; with efficacy stopping, a leader
that beats the base at a look's boundary wins, and its comparison stops (``_stop_decided``).

Eliminations and stops are recorded in ``race.json`` in the sweep dir, so that a re-run goes on from them (a
recorded stop stands while the results it was made from are still there), and the reports read them.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from hpsweep.core.records import write_json_atomic
from hpsweep.core.statuses import RowStatus, StopKind, TrainingStatus
from hpsweep.core.trainings import BASE
from hpsweep.decide.inference import Evidence, equivalence_interval, predictive_power, two_sided
from hpsweep.decide.race_record import RACE_FILE, UNDECIDABLE, comparison_key, decisive, read_race, untrained_status
from hpsweep.decide.statistics import Candidate, compare, efficacy_boundaries, signed
from hpsweep.sweep.outcomes import Outcome, collect_outcomes
from hpsweep.sweep.race_evidence import Finished, row_name

log = logging.getLogger(__name__)

# a training that will not run again here
DONE = (RowStatus.COMPLETED, RowStatus.FAILED, RowStatus.PRUNED, RowStatus.SKIPPED, RowStatus.UNCLAIMED)
UNTRAINED = (RowStatus.ELIMINATED, RowStatus.STOPPED)  # a training racing never trains


@dataclass
class Comparison:
    key: tuple
    rows: dict[str, dict[int, Outcome]] = field(default_factory=dict)  # option -> round -> its training
    base: str | None = None  # the option the base training answers in this comparison
    eliminated: dict[str, dict] = field(default_factory=dict)

    def rounds_done(self, option: str) -> int:
        """How many of the row's first rounds are done, in a row."""
        done = 0
        while done in self.rows[option] and self.rows[option][done].status in DONE:
            done += 1
        return done

    def rounds_complete(self) -> int:
        """The rounds every row still in the race has done."""
        return min((self.rounds_done(option) for option in self.rows if option not in self.eliminated), default=0)


class Race:
    """The state of the race over a list of outcomes (one stage's, or a union sweep's): which pending trainings
    may run now, and which rows are out."""

    def __init__(self, sweep_dir: Path, outcomes: list[Outcome], metric: str, higher_is_better: bool, alpha: float,
                 race_from: int, enabled: bool = True, futility: float = 0.0, min_effect: float | None = None,
                 efficacy: str | None = None):
        self.path = Path(sweep_dir) / RACE_FILE
        self.metric = metric
        self.higher_is_better = higher_is_better
        self.alpha = alpha
        self.race_from = race_from
        self.futility = futility  # a row whose final test would be significant with less probability stops
        self.min_effect = min_effect  # a row surely within +-min_effect of the leader stops (None: never)
        self.efficacy = efficacy  # the spending function of the looks for a win before the last (None: no such look)
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
        training = outcome.training
        return [(self.comparisons[key], row.option) for row in training.rows if row.category
                and (key := comparison_key(training.model, training.setting, row.stage, row.category))
                in self.comparisons]

    def ready(self) -> list[Outcome]:
        """The pending trainings that may run now, earliest round first; those of rows the race eliminated are
        marked ``eliminated`` and left out. Trainings answered by a carrier that is done take its answer first."""
        self.collect_answered()
        self.update()
        ready = []
        for outcome in self.outcomes:
            if outcome.status != RowStatus.PENDING:
                continue
            # the base never waits: its every replicate answers every comparison of its model, and its seeds are what
            # the first round's runs are tested against (one run each has no seed luck to measure)
            places = self._comparisons_of(outcome) if self.enabled and not outcome.training.is_base else []
            if places and all(option in comparison.eliminated for comparison, option in places):
                why = decisive([comparison.eliminated[option] for comparison, option in places])
                outcome.status = untrained_status(why)
                outcome.note = f"{outcome.status} after {why['after']} replicate(s), {why['reason']}"
                continue
            number = self.round.get(outcome.training.replicate, 0)
            if all(comparison.rounds_complete() >= number for comparison, option in places
                   if option not in comparison.eliminated):
                ready.append(outcome)
        if any(outcome.status == RowStatus.ANSWERED and outcome.answered_by.status in UNTRAINED
               for outcome in self.outcomes):
            return self.ready()  # a carrier stopped in this pass: its members are trainings of their own again
        order = {id(outcome): number for number, outcome in enumerate(self.outcomes)}
        return sorted(ready, key=lambda outcome: (self.round.get(outcome.training.replicate, 0), order[id(outcome)]))

    @property
    def stops_decided(self) -> bool:
        """Whether rows that more replicates would not change stop (futility, equivalence, efficacy)."""
        return self.futility > 0 or self.min_effect is not None or self.efficacy is not None

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
        done = comparison.rounds_complete()
        if done < self.race_from:
            return False
        candidates = {option: self._candidate(comparison, option, done) for option in comparison.rows
                      if option not in comparison.eliminated}
        changed = False
        for option, candidate in candidates.items():  # a pruned replicate puts a row out of the verdict: no more
            if candidate is None and option != comparison.base and self._pruned(comparison, option, done):
                comparison.eliminated[option] = {"after": done, "test": "pruned", "p_value": None, "leader": None,
                                                 "difference": None, "reason": "a replicate was pruned (a row with "
                                                 "a pruned replicate is out of the verdict)"}
                changed = True
        running = {option: candidate for option, candidate in candidates.items() if candidate is not None}
        if len(running) < 2:
            return changed
        sign = 1.0 if self.higher_is_better else -1.0
        leader = max(running.values(), key=lambda candidate: (sign * evidence.mean(candidate.row), candidate.is_base))
        for option, candidate in running.items():
            if option == comparison.base or candidate is leader or self._free(comparison, option):
                continue
            contrast = evidence.contrast(candidate.row, leader.row)
            p_value = two_sided(contrast)
            if p_value is not None and p_value < self.alpha and sign * contrast.estimate < 0:
                method = f"pooled t-test, {contrast.df:.0f} df ({', '.join(contrast.parts)})"
                comparison.eliminated[option] = {
                    "after": done, "test": method, "p_value": p_value, "leader": leader.option,
                    "difference": contrast.estimate,
                    "reason": f"worse than the leader {leader.option} by {contrast.estimate:+.4f} ({method}, "
                              f"p={p_value:.3g} < {self.alpha})"}
                log.info("%s / %s / %s: eliminated after %d replicate(s), %s", comparison.key[0], comparison.key[3],
                         option, done, comparison.eliminated[option]["reason"])
                changed = True
        return self._stop_decided(comparison, running, leader, done, evidence) or changed

    def _stop_decided(self, comparison: Comparison, running: dict, leader, done: int, evidence: Evidence) -> bool:
        """Stop the rows that more replicates would not change: those more replicates would not decide
        (``_stop_undecidable``), then the leader and the base where the leader has won (``_stop_won``). Once every
        other row is out, the leader stops too: nothing is left to decide."""
        if not self.stops_decided or done >= max(len(rounds) for rounds in comparison.rows.values()):
            return False  # off, or every replicate is done: nothing left to save
        changed = self._stop_undecidable(comparison, running, leader, done, evidence)
        changed |= self._stop_won(comparison, running, leader, done, evidence)
        changed |= self._stop_kept(comparison, running, leader, done)
        others = [option for option in comparison.rows if option != leader.option]
        if others and leader.option not in comparison.eliminated and \
                all(option in comparison.eliminated for option in others):
            reason = "the leader: every other row is decided, so more replicates cannot change this comparison"
            comparison.eliminated[leader.option] = undecided(done, leader.option, StopKind.FUTILE, None, reason)
            changed = True
        return changed

    def _stop_undecidable(self, comparison: Comparison, running: dict, leader, done: int, evidence: Evidence) -> bool:
        """Stop the rows that more replicates would not decide: within +-min_effect of the leader for sure
        (``equivalent``: the (1 - 2 alpha) interval of the contrast inside it, two one-sided tests), or whose final
        test against it would be significant with less probability than ``futility`` (``futile``)."""
        changed = False
        for option, candidate in running.items():
            planned = min(len(comparison.rows[option]), len(comparison.rows[leader.option]))
            if candidate is leader or option in comparison.eliminated or done >= planned:
                continue
            contrast = evidence.contrast(candidate.row, leader.row)
            interval = equivalence_interval(contrast, self.alpha) if self.min_effect is not None else None
            # the last test pools every row of the group over the planned replicates: (rows - 1)(replicates - 1) df
            final_df = (len(evidence.fitted.counts) - 1) * (planned - 1)
            power = predictive_power(contrast, done, planned, self.alpha, final_df) if self.futility > 0 else None
            if interval is not None and -self.min_effect < interval[0] and interval[1] < self.min_effect:
                why = {"stop": StopKind.EQUIVALENT, "power": power,
                       "reason": f"equivalent to the leader {leader.option}: "
                       f"the difference is within {interval[0]:+.4f} to {interval[1]:+.4f} ({1 - 2 * self.alpha:.0%} "
                       f"confidence), inside +-{self.min_effect:g}"}
            elif power is not None and power < self.futility:
                why = {"stop": StopKind.FUTILE, "power": power,
                       "reason": f"within noise of {leader.option} (stopped after "
                       f"{done} of {planned} replicates: the remaining ones would decide it with probability "
                       f"{power:.2f})"}
            else:
                continue
            comparison.eliminated[option] = undecided(done, leader.option, **why)
            log.info("%s / %s / %s: stopped after %d replicate(s), %s", comparison.key[0], comparison.key[3], option,
                     done, why["reason"])
            changed = True
        return changed

    def _stop_kept(self, comparison: Comparison, running: dict, leader, done: int) -> bool:
        """Stop every row where the base is kept for sure: more replicates would not show the leader better than
        the base (the base stopped as futile or equivalent against it), and every other row is behind the leader."""
        why = comparison.eliminated.get(comparison.base)
        if why is None or why.get("stop") not in UNDECIDABLE or why.get("leader") != leader.option:
            return False
        stopped = [option for option in running if option not in comparison.eliminated]
        for option in stopped:
            which = "this row, the leader," if option == leader.option else f"the leader {leader.option}"
            behind = "" if option == leader.option else ", and this row is behind it"
            comparison.eliminated[option] = undecided(
                done, leader.option, why["stop"], why.get("power"),
                f"the base is kept: more replicates would not show {which} better than it ({why['reason']}){behind}")
        return bool(stopped)

    def _stop_won(self, comparison: Comparison, running: dict, leader, done: int, evidence: Evidence) -> bool:
        """Stop the leader and the base where the leader has won: every other row is decided, and the verdict's own
        test (Dunnett's over the comparison's options) finds the leader better than the base at this look's
        efficacy boundary, fixed from the looks planned (``statistics.efficacy_boundaries``); the win's stage-wise
        p (the earlier looks' boundaries plus its own) is what the sweep's correction takes."""
        base = running.get(comparison.base)
        if self.efficacy is None or base is None or base is leader or \
                {leader.option, comparison.base} & set(comparison.eliminated) or \
                any(option not in comparison.eliminated for option in comparison.rows
                    if option not in (leader.option, comparison.base)):
            return False
        planned = min(len(comparison.rows[leader.option]), len(comparison.rows[comparison.base]))
        if done >= planned:
            return False
        boundaries = efficacy_boundaries(self.alpha, planned, self.efficacy)
        candidates = [self._candidate(comparison, option, done) or Candidate(option, {}, False, row=row_name(
            comparison, option)) for option in comparison.rows]
        test = compare(evidence, candidates, self.higher_is_better, self.alpha)[leader.option]
        sign = 1.0 if self.higher_is_better else -1.0
        if test.p_comparison is None or test.p_comparison >= boundaries[done - 1] or sign * test.difference <= 0:
            return False
        stagewise = sum(boundaries[:done - 1]) + test.p_comparison
        won = (f"better than the base by {signed(test.difference)} ({test.method}, p={test.p_comparison:.3g} < "
               f"{boundaries[done - 1]:.3g}, the efficacy boundary of look {done}; stage-wise p={stagewise:.3g})")
        after = f"after {done} of {planned} replicates"
        why = {"after": done, "test": test.method, "p_value": test.p_comparison, "leader": leader.option,
               "difference": test.difference, "stop": StopKind.EFFICACY, "power": None,
               "boundary": boundaries[done - 1], "boundaries": boundaries, "stagewise": stagewise}
        comparison.eliminated[leader.option] = {**why, "reason": f"won {after}: {won}"}
        comparison.eliminated[comparison.base] = {**why, "reason": f"beaten by {leader.option} {after}: it is {won}"}
        log.info("%s / %s / %s: won after %d replicate(s), %s", comparison.key[0], comparison.key[3], leader.option,
                 done, won)
        return True

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

    @staticmethod
    def _free(comparison: Comparison, option: str) -> bool:
        """Whether stopping the row saves nothing: a carrier answers each replicate it has still to get."""
        return all(outcome.answered_by is not None for outcome in comparison.rows[option].values()
                   if outcome.status not in DONE)

    @staticmethod
    def _pruned(comparison: Comparison, option: str, rounds: int) -> bool:
        return any(((outcome.result or outcome.previous or {}).get("status")) == TrainingStatus.PRUNED
                   for number, outcome in comparison.rows[option].items() if number < rounds)

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


def undecided(after: int, leader: str, stop: str, power: float | None, reason: str) -> dict:
    """The record of a row stopped without a test of its own deciding it (futile or equivalent)."""
    return {"after": after, "test": "futility", "p_value": None, "leader": leader, "difference": None, "stop": stop,
            "power": power, "reason": reason}


def training_bounds(trainings, race_from: int) -> tuple[int, int]:
    """(fewest, most) trainings the race can take: at fewest, every option but the base is decided after
    ``race_from`` replicates (the base, which never waits, trains every one)."""
    replicates = list(dict.fromkeys(training.replicate for training in trainings))
    if len(replicates) < 2:
        return len(trainings), len(trainings)
    first = set(replicates[:race_from])
    fewest = sum(1 for training in trainings if training.is_base or training.trial is not None
                 or training.replicate in first)
    return fewest, len(trainings)
