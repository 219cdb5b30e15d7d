"""Racing's rules: what stops a row of a comparison at a look, one small object each, applied in ``RULES``' order.

At a look, every row still in the race has done the same rounds; a rule reads the look (the rows still running,
their leader by adjusted mean, the group's pooled evidence) and returns the rows it stops, each with the record
``race.json`` keeps for it (``after``, ``test``, ``p_value``, ``leader``, ``difference``, ``reason``; a stop
without a test of its own deciding it also ``stop`` and ``power``). A later rule sees the earlier ones' stops.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from hpsweep.core.statuses import RowStatus, StopKind, TrainingStatus
from hpsweep.decide.inference import Evidence, equivalence_interval, predictive_power, two_sided
from hpsweep.decide.race_record import UNDECIDABLE, Phrase
from hpsweep.decide.statistics import Candidate, compare, efficacy_boundaries, signed
from hpsweep.sweep.outcomes import Outcome
from hpsweep.sweep.race_evidence import row_name

# a training that will not run again here
DONE = (RowStatus.COMPLETED, RowStatus.FAILED, RowStatus.PRUNED, RowStatus.SKIPPED, RowStatus.UNCLAIMED)


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

    def undecided(self) -> bool:
        """Whether a row other than the base is still in the race (the base still in too)."""
        return self.base not in self.eliminated and any(option not in self.eliminated for option in self.rows
                                                        if option != self.base)

    def free(self, option: str) -> bool:
        """Whether stopping the row saves nothing: a carrier answers each replicate it has still to get."""
        return all(outcome.answered_by is not None for outcome in self.rows[option].values()
                   if outcome.status not in DONE)

    def pruned(self, option: str, rounds: int) -> bool:
        """Whether one of the row's first ``rounds`` replicates was pruned."""
        return any(((outcome.result or outcome.previous or {}).get("status")) == TrainingStatus.PRUNED
                   for number, outcome in self.rows[option].items() if number < rounds)

    def planned(self, *options: str) -> int:
        """The replicates planned for the rows, the fewest of them."""
        return min(len(self.rows[option]) for option in options)


@dataclass(frozen=True)
class Settings:
    """What the sweep asked of its race (``hydra.sweeper.*``)."""
    alpha: float
    higher_is_better: bool
    futility: float = 0.0  # a row whose final test would be significant with less probability stops
    min_effect: float | None = None  # a row surely within +-min_effect of the leader stops (None: never)
    efficacy: str | None = None  # the spending function of the looks for a win before the last (None: no such look)

    @property
    def stops_decided(self) -> bool:
        """Whether rows that more replicates would not change stop (futility, equivalence, efficacy)."""
        return self.futility > 0 or self.min_effect is not None or self.efficacy is not None

    @property
    def sign(self) -> float:
        return 1.0 if self.higher_is_better else -1.0


@dataclass
class Look:
    """A comparison after ``done`` rounds of every row still in it, as it stood when the look began: the rows
    ``running`` (still in, all their replicates completed) and their ``leader``, the best adjusted mean (the base
    where tied; None with fewer than two running)."""
    comparison: Comparison
    done: int
    evidence: Evidence
    settings: Settings
    read: Callable[[str], Candidate | None]  # a row's first ``done`` replicates; None unless all completed
    candidates: dict[str, Candidate | None] = field(init=False)  # those of the rows still in the race
    running: dict[str, Candidate] = field(init=False)
    leader: Candidate | None = field(init=False)

    def __post_init__(self) -> None:
        self.candidates = {option: self.read(option) for option in self.comparison.rows if not self.out(option)}
        self.running = {option: candidate for option, candidate in self.candidates.items() if candidate is not None}
        self.leader = None if len(self.running) < 2 else max(
            self.running.values(),
            key=lambda candidate: (self.settings.sign * self.evidence.mean(candidate.row), candidate.is_base))

    @property
    def saves(self) -> bool:
        """Whether a row stopped now saves a training: some row has replicates still to do."""
        return self.done < max(len(rounds) for rounds in self.comparison.rows.values())

    def out(self, option: str) -> bool:
        return option in self.comparison.eliminated

    def candidate(self, option: str) -> Candidate | None:
        """Any row's first ``done`` replicates, one out of the race before this look too (read only when asked)."""
        return self.candidates[option] if option in self.candidates else self.read(option)


class Rule(ABC):
    """One way a row leaves the race. ``early``: a stop before the last replicate that more replicates would not
    change, taken only where it saves one; ``needs_leader``: it compares with the leader."""
    early = False
    needs_leader = True

    def on(self, settings: Settings) -> bool:
        return True

    @abstractmethod
    def decide(self, look: Look) -> dict[str, dict]:
        """The rows this rule stops at ``look``, each with its record."""


class Pruned(Rule):
    """A row with a pruned replicate is out of the verdict: it trains no more."""
    needs_leader = False

    def decide(self, look: Look) -> dict[str, dict]:
        comparison = look.comparison
        return {option: {"after": look.done, "test": "pruned", "p_value": None, "leader": None, "difference": None,
                         "rule": Phrase.PRUNED,
                         "reason": "a replicate was pruned (a row with a pruned replicate is out of the verdict)"}
                for option, candidate in look.candidates.items()
                if candidate is None and option != comparison.base
                and comparison.pruned(option, look.done)}


class WorseThanLeader(Rule):
    """Eliminated: worse than the leader by the pooled model's two-sided test at alpha (never the base, which
    answers every comparison of its model)."""

    def decide(self, look: Look) -> dict[str, dict]:
        stops, alpha, leader = {}, look.settings.alpha, look.leader
        for option, candidate in look.running.items():
            if option == look.comparison.base or candidate is leader or look.comparison.free(option):
                continue
            contrast = look.evidence.contrast(candidate.row, leader.row)
            p_value = two_sided(contrast)
            if p_value is not None and p_value < alpha and look.settings.sign * contrast.estimate < 0:
                method = f"pooled t-test, {contrast.df:.0f} df ({', '.join(contrast.parts)})"
                stops[option] = {"after": look.done, "test": method, "p_value": p_value, "leader": leader.option,
                                 "difference": contrast.estimate, "rule": Phrase.WORSE,
                                 "reason": f"worse than the leader {leader.option} by {contrast.estimate:+.4f}: "
                                           f"{method}, p={p_value:.3g} < {alpha}"}
        return stops


class Equivalent(Rule):
    """Stopped as equivalent: the (1 - 2 alpha) interval of its difference from the leader lies inside
    +-``min_effect`` (two one-sided tests)."""
    early = True

    def on(self, settings: Settings) -> bool:
        return settings.min_effect is not None

    def decide(self, look: Look) -> dict[str, dict]:
        stops, bound = {}, look.settings.min_effect
        for option, contrast in undecided_rows(look):
            low, high = equivalence_interval(contrast, look.settings.alpha)
            if -bound < low and high < bound:
                stops[option] = undecided(
                    look.done, look.leader.option, StopKind.EQUIVALENT, Phrase.EQUIVALENT,
                    final_power(look, option, contrast),
                    f"equivalent to the leader {look.leader.option}: the difference is within {low:+.4f} to "
                    f"{high:+.4f} ({1 - 2 * look.settings.alpha:.0%} confidence), inside +-{bound:g}")
        return stops


class Futile(Rule):
    """Stopped as futile: the final test against the leader, after every planned replicate, would be significant
    with less probability than ``futility`` (predictive power)."""
    early = True

    def on(self, settings: Settings) -> bool:
        return settings.futility > 0

    def decide(self, look: Look) -> dict[str, dict]:
        stops = {}
        for option, contrast in undecided_rows(look):
            power = final_power(look, option, contrast)
            if power < look.settings.futility:
                planned = look.comparison.planned(option, look.leader.option)
                stops[option] = undecided(
                    look.done, look.leader.option, StopKind.FUTILE, Phrase.WITHIN_NOISE, power,
                    f"within noise of {look.leader.option}: stopped after {look.done} of {planned} replicates, as the "
                    f"remaining ones would tell them apart with probability {power:.2f}")
        return stops


class Won(Rule):
    """The leader wins, and it and the base stop: every other row is decided, and the verdict's own test (Dunnett's
    over the comparison's options) finds the leader better than the base at this look's efficacy boundary, fixed
    from the looks planned (``statistics.efficacy_boundaries``); the win's stage-wise p (the earlier looks'
    boundaries plus its own) is what the sweep's correction takes."""
    early = True

    def on(self, settings: Settings) -> bool:
        return settings.efficacy is not None

    def decide(self, look: Look) -> dict[str, dict]:
        comparison, leader = look.comparison, look.leader
        base = look.running.get(comparison.base)
        if base is None or base is leader or look.out(leader.option) or look.out(comparison.base) or \
                any(not look.out(option) for option in comparison.rows if option not in (leader.option, base.option)):
            return {}
        planned = comparison.planned(leader.option, comparison.base)
        if look.done >= planned:
            return {}
        boundaries = efficacy_boundaries(look.settings.alpha, planned, look.settings.efficacy)
        candidates = [look.candidate(option) or Candidate(option, {}, False, row=row_name(comparison, option))
                      for option in comparison.rows]
        test = compare(look.evidence, candidates, look.settings.higher_is_better, look.settings.alpha)[leader.option]
        boundary = boundaries[look.done - 1]
        if test.p_comparison is None or test.p_comparison >= boundary or look.settings.sign * test.difference <= 0:
            return {}
        stagewise = sum(boundaries[:look.done - 1]) + test.p_comparison
        won = (f"better than the base by {signed(test.difference)}: {test.method}, p={test.p_comparison:.3g} < "
               f"{boundary:.3g}, the efficacy boundary of look {look.done}; stage-wise p={stagewise:.3g}")
        after = f"after {look.done} of {planned} replicates"
        why = {"after": look.done, "test": test.method, "p_value": test.p_comparison, "leader": leader.option,
               "difference": test.difference, "stop": StopKind.EFFICACY, "power": None, "boundary": boundary,
               "boundaries": boundaries, "stagewise": stagewise}
        return {leader.option: {**why, "rule": Phrase.WON, "reason": f"won {after}: {won}"},
                comparison.base: {**why, "rule": Phrase.BEATEN,
                                  "reason": f"beaten by {leader.option} {after}: it is {won}"}}


class BaseKept(Rule):
    """Every running row stops where the base is kept for sure: more replicates would not show the leader better
    than the base (the base stopped as futile or equivalent against it), and every other row is behind the
    leader."""
    early = True

    def on(self, settings: Settings) -> bool:
        return settings.stops_decided

    def decide(self, look: Look) -> dict[str, dict]:
        leader = look.leader
        why = look.comparison.eliminated.get(look.comparison.base)
        if why is None or why.get("stop") not in UNDECIDABLE or why.get("leader") != leader.option:
            return {}
        stops = {}
        for option in (option for option in look.running if not look.out(option)):
            which = "this row, the leader," if option == leader.option else f"the leader {leader.option}"
            behind = "" if option == leader.option else ", and this row is behind it"
            stops[option] = undecided(
                look.done, leader.option, why["stop"], Phrase.BASE_KEPT, why.get("power"),
                f"the base is kept: more replicates would not show {which} better than it{behind}; the base was "
                f"{why['reason']}")
        return stops


class LeaderAlone(Rule):
    """The leader stops once every other row is out: nothing is left to decide."""
    early = True

    def on(self, settings: Settings) -> bool:
        return settings.stops_decided

    def decide(self, look: Look) -> dict[str, dict]:
        leader, comparison = look.leader.option, look.comparison
        others = [option for option in comparison.rows if option != leader]
        if not others or look.out(leader) or not all(look.out(option) for option in others):
            return {}
        reason = "the leader: every other row is decided, so more replicates cannot change this comparison"
        return {leader: undecided(look.done, leader, StopKind.FUTILE, Phrase.ALONE, None, reason)}


RULES: tuple[Rule, ...] = (Pruned(), WorseThanLeader(), Equivalent(), Futile(), Won(), BaseKept(), LeaderAlone())


def undecided_rows(look: Look):
    """The running rows other than the leader that are still in and have replicates planned beyond this look, each
    with its contrast against the leader; none whose noise cannot be estimated yet (one run of each row, no control
    seeds: the rows keep pace, so a first look may have nothing to judge by)."""
    for option, candidate in look.running.items():
        if candidate is look.leader or look.out(option) or look.done >= look.comparison.planned(
                option, look.leader.option):
            continue
        contrast = look.evidence.contrast(candidate.row, look.leader.row)
        if contrast.se is not None:
            yield option, contrast


def final_power(look: Look, option: str, contrast) -> float | None:
    """The predictive power of the row's final test against the leader (None with futility stopping off). The last
    test pools every row of the group over the planned replicates: (rows - 1)(replicates - 1) df."""
    if look.settings.futility <= 0:
        return None
    planned = look.comparison.planned(option, look.leader.option)
    final_df = (len(look.evidence.fitted.counts) - 1) * (planned - 1)
    return predictive_power(contrast, look.done, planned, look.settings.alpha, final_df)


def undecided(after: int, leader: str, stop: str, rule: str, power: float | None, reason: str) -> dict:
    """The record of a row stopped without a test of its own deciding it (futile or equivalent)."""
    return {"after": after, "test": "futility", "p_value": None, "leader": leader, "difference": None, "stop": stop,
            "rule": rule, "power": power, "reason": reason}
