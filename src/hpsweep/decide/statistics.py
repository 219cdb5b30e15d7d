"""Statistics of the answer, in one place: rows of replicate values -> tests against the base -> a verdict.

The summary, the page, ``hpsweep best``, greedy stages and racing all ask this module (and ``inference``, the
model behind it), so they cannot disagree.

The rule, in order:
1. An option competes when every replicate it was asked for completed and racing did not stop it (eliminated,
   futile or equivalent rows only drop out; a failed, pruned or missing replicate puts a row out).
2. Every option is tested against the base by ``compare``: a contrast of the group's pooled row + replicate model
   (``hpsweep.decide.inference``), one-sided, the comparison's K options corrected together by Dunnett's
   many-to-one test (``p_comparison``); where the race looked for a win before the last replicate, the stage-wise
   p of the look it stopped at, or of the last look (the boundaries spent before it, added).
3. The sweep's comparisons are corrected together by ``correct`` (``hydra.sweeper.multiplicity``: Benjamini and
   Hochberg's false discovery rate over the comparisons, each comparison's options then tested at what that leaves,
   as Benjamini and Bogomolov's selective inference on families does; Holm's family-wise control; or none):
   ``p_adjusted``. A greedy sweep's stages are families of their own.
4. The winner is the option with the best adjusted mean among those better than the base with ``p_adjusted`` below
   the sweep's rate; otherwise the base is kept. One run each with no control seeds has no seed luck to measure:
   the best mean is *untested against seed luck*, never a win.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from hpsweep.core.statuses import StopKind
from hpsweep.decide.inference import Evidence, Run
from hpsweep.decide.many_to_one import critical_value, detectable, many_to_one

TIE = 1e-12  # means closer than this are equal
MULTIPLICITIES = ("bh", "holm", "none")
OUT = (StopKind.ELIMINATED, StopKind.FUTILE, StopKind.EQUIVALENT)  # racing's stops that drop a row from the verdict


@dataclass(frozen=True)
class Aggregate:
    """A row's metric over its completed replicates."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation; None below two replicates."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else None

    @property
    def min(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def max(self) -> float | None:
        return max(self.values) if self.values else None


@dataclass
class Candidate:
    """One option of a comparison: its metric per replicate, and the row of the group's evidence it is."""

    option: str
    values: dict[str, float]  # replicate label -> metric, completed replicates only
    complete: bool  # every replicate it was asked for completed
    is_base: bool = False
    stopped: str | None = None  # how racing stopped it: eliminated | futile | equivalent | efficacy
    stop_reason: str | None = None  # when and why ("after 1 replicate(s), worse than ...")
    won: str | None = None  # why racing stopped its comparison for it: it beat the base at an efficacy look
    stagewise: float | None = None  # the stage-wise p of that look
    row: str | None = None  # its name in the group's evidence (default: the option)
    runs: Callable[[], dict[str, Run]] | None = None  # its runs with their images, for the group's evidence

    def __post_init__(self):
        self.row = self.row or self.option

    @property
    def aggregate(self) -> Aggregate:
        return Aggregate(tuple(self.values[key] for key in sorted(self.values)))

    @property
    def out(self) -> bool:
        return self.stopped in OUT


@dataclass
class Test:
    """One option against the base: the contrast, its test and what it could detect."""

    difference: float | None  # the option's adjusted mean minus the base's (metric units)
    p_value: float | None  # raw, one-sided (better than the base); None: no test was possible
    method: str
    se: float | None = None
    df: float | None = None
    p_comparison: float | None = None  # Dunnett's over the comparison's options (stage-wise after efficacy looks)
    p_adjusted: float | None = None  # after the sweep's correction (``correct``)
    critical: float | None = None  # the difference significant half the time at the comparison's alpha
    detectable: float | None = None  # the difference found with 80% power
    replicates: int = 0

    def significant(self, level: float) -> bool:
        p_value = next((p for p in (self.p_adjusted, self.p_comparison, self.p_value) if p is not None), None)
        return p_value is not None and p_value < level

    @property
    def detectable_text(self) -> str:
        return "no difference at all (nothing to estimate seed luck from)" if self.detectable is None else \
            f"{self.detectable:.4f} (80% power)"


@dataclass
class Verdict:
    """The choice of one category: which option wins and why, in words a user reads."""

    winner: str | None
    top: str | None  # the best mean, whether or not it won
    kept_base: bool
    within_noise: bool
    reason: str
    notes: list[str] = field(default_factory=list)
    against_base: dict[str, Test] = field(default_factory=dict)  # each option against the base
    undecided: Test | None = None  # the test that could not decide the best mean against the base
    untested: bool = False  # one run each: the best mean is untested against seed luck


def evidence_of(candidates: Sequence[Candidate], metric: str, held_out: float | None = None) -> Evidence:
    """The evidence of these rows alone (a group's rows are usually fitted together: ``Evidence.of``)."""
    runs = {c.row: c.runs() if c.runs else {key: Run(value) for key, value in c.values.items()} for c in candidates}
    return Evidence.of(runs, metric, held_out)


def compare(evidence: Evidence, candidates: Sequence[Candidate], higher_is_better: bool, alpha: float,
            boundaries: Sequence[float] = ()) -> dict[str, Test]:
    """Each option against the base, Dunnett-corrected over the comparison's options (every one it started with:
    those without a value count too). An option tested on its own spread (less stable than the rest) falls outside
    Dunnett's joint law: it takes a Bonferroni share of alpha and the pooled ones the rest; with the base on its
    own spread, Holm's bound over them all. ``boundaries``: the efficacy looks the race planned (their sum before the
    last is added to the last look's p; a recorded win brings its own stage-wise p)."""
    sign = 1.0 if higher_is_better else -1.0
    base = next((c for c in candidates if c.is_base), None)
    options = [c for c in candidates if not c.is_base]
    fitted = evidence.fitted
    if base is None or fitted is None or base.row not in fitted:
        return {c.option: Test(None, None, "the base has no completed replicate to compare with") for c in options}
    tested = [c for c in options if c.row in fitted]
    contrasts = {c.option: evidence.contrast(c.row, base.row) for c in tested}
    if not tested or any(contrast.se is None for contrast in contrasts.values()):
        return {c.option: Test(contrasts[c.option].estimate if c.option in contrasts else None, None,
                               "one run each: nothing to measure seed luck with (sweep seeds, or keep "
                               "hydra.sweeper.control_seeds on)") for c in options}
    from scipy.stats import t as student

    pairs = [(c.row, base.row) for c in tested]
    covariance = np.array([[fitted.covariance(first, second) or 0.0 for second in pairs] for first in pairs])
    scale = np.sqrt(np.diag(covariance))
    correlation = covariance / np.outer(scale, scale) if scale.all() else np.eye(len(pairs))
    statistics = [(contrasts[c.option].t(sign), contrasts[c.option].df) for c in tested]
    raw = [float(student.sf(t_value, own_df)) for t_value, own_df in statistics]
    count, apart = len(options), [i for i, c in enumerate(tested) if c.row in fitted.unstable]
    family: dict[int, tuple[float, float, str]] = {}  # each tested option's (p, critical t, method)
    if base.row in fitted.unstable:  # every contrast holds the base's own spread: Holm's bound needs no joint law
        holm = _holm(np.array(raw + [1.0] * (count - len(tested))))  # the options without a value found nothing
        for i, (_, own_df) in enumerate(statistics):
            family[i] = (float(holm[i]), float(student.isf(alpha / count, own_df)),
                         f"Holm, {count} option(s) against the base (the base on its own spread), one-sided")
    else:  # Dunnett's over the options on the pooled variance; Bonferroni's share of alpha for each apart
        pooled = [i for i in range(len(tested)) if i not in apart]
        share = (count - len(apart)) / count
        if pooled:
            within = correlation[np.ix_(pooled, pooled)]
            adjusted = many_to_one([statistics[i] for i in pooled], within, untested=count - len(tested))
            critical = critical_value(count - len(apart), within, min(statistics[i][1] for i in pooled),
                                      alpha * share)
            method = f"Dunnett, {count} option(s) against the base, one-sided" if not apart else \
                f"Dunnett over the {count - len(apart)} of {count} option(s) on the pooled variance, at " \
                f"{share:.2g} of alpha (Bonferroni's split with the option(s) on their own spread), one-sided"
            family |= {i: (min(1.0, p / share), critical, method) for i, p in zip(pooled, adjusted, strict=True)}
        for i in apart:
            family[i] = (min(1.0, count * raw[i]), float(student.isf(alpha / count, statistics[i][1])),
                         f"Bonferroni, 1 of {count} option(s) against the base (on its own spread), one-sided")
    spent = sum(boundaries[:-1]) if len(boundaries) > 1 else 0.0
    tests = {c.option: Test(None, None, "no completed replicate") for c in options}
    for i, (c, (_, own_df), p_raw) in enumerate(zip(tested, statistics, raw, strict=True)):
        contrast, (p_family, critical, method) = contrasts[c.option], family[i]
        looks = f"; plus {spent:.3g} the race's earlier looks spent" if spent and c.stagewise is None else ""
        p_comparison = c.stagewise if c.stagewise is not None else min(1.0, p_family + spent)
        tests[c.option] = Test(
            contrast.estimate, p_raw, f"{method}, {own_df:.0f} df ({', '.join(contrast.parts)}){looks}", contrast.se,
            own_df, p_comparison, critical=critical * contrast.se,
            detectable=detectable(contrast.se, critical, own_df),
            replicates=min(fitted.counts[c.row], fitted.counts[base.row]))
    return tests


def correct(family: Sequence[dict[str, Test]], method: str, rate: float) -> float:
    """Adjust every test of a family of comparisons (``p_adjusted``) and return the expected number of false wins
    among the family's wins. Each comparison counts once, by its smallest ``p_comparison``: ``bh`` selects the
    comparisons by Benjamini-Hochberg at ``rate`` and tests each selected one's options at ``rate`` x selected /
    comparisons (Benjamini and Bogomolov 2014; the best option's ``p_adjusted`` is then its comparison's BH-adjusted
    p); ``holm`` scales each comparison's tests by its Holm factor (the chance of any false win at most ``rate``);
    ``none`` keeps Dunnett's."""
    from scipy.stats import false_discovery_control

    comparisons = [(tests, min(t.p_comparison for t in tests.values() if t.p_comparison is not None))
                   for tests in family if any(t.p_comparison is not None for t in tests.values())]
    if not comparisons:
        return 0.0
    smallest = np.array([p for _, p in comparisons])
    if method == "bh":
        adjusted = false_discovery_control(smallest, method="bh")
        # at the rate that selects this comparison, so many are selected: its options are tested at rate x that / m
        factor = [len(comparisons) / int((adjusted <= floor).sum()) for floor in adjusted]
    elif method == "holm":
        adjusted = _holm(smallest)
        factor = [a / p if p > 0 else 1.0 for a, p in zip(adjusted, smallest, strict=True)]
    else:
        adjusted, factor = smallest, [1.0] * len(comparisons)
    for (tests, _), floor, scale in zip(comparisons, adjusted, factor, strict=True):
        for test in tests.values():
            if test.p_comparison is not None:
                test.p_adjusted = float(min(1.0, max(floor, test.p_comparison * scale)))
    wins = int((adjusted < rate).sum())
    return {"bh": rate * wins, "holm": rate}.get(method, rate * len(comparisons))


def _holm(p_values: np.ndarray) -> np.ndarray:
    order = np.argsort(p_values)
    scaled = np.maximum.accumulate(p_values[order] * (len(p_values) - np.arange(len(p_values))))
    adjusted = np.empty_like(scaled)
    adjusted[order] = np.minimum(scaled, 1.0)
    return adjusted


def decide(candidates: Sequence[Candidate], tests: dict[str, Test], higher_is_better: bool, level: float,
           evidence: Evidence | None = None) -> Verdict:
    """The winner of one category (the module's rule), from ``compare``'s tests once ``correct`` adjusted them;
    ranked on the group's adjusted means (each row's replicates' luck taken out) where the evidence has them."""
    sign = 1.0 if higher_is_better else -1.0
    base = next((candidate for candidate in candidates if candidate.is_base), None)
    order = {candidate.option: number for number, candidate in enumerate(candidates)}
    eligible = [c for c in candidates if c.complete and c.values and not c.out]
    out = [c.option for c in candidates if not c.complete and not c.out]
    # a task function that returns None (lightning-hydra-template's without optimized_metric) completes valueless
    valueless = [c.option for c in candidates if c.complete and not c.values and not c.out]
    notes = [f"{c.option}: {c.stop_reason}" for c in candidates if c.out]
    notes += [f"{', '.join(out)}: not all replicates completed, so not compared"] if out else []
    notes += [f"{', '.join(valueless)}: completed without a value of the metric, so not compared"] if valueless else []
    if not eligible:
        reason = "no option completed all its replicates" if out or not valueless else \
            "nothing to decide by: the trainings completed without a value of the metric (a task function that " \
            "returns None; return the metric, or name a recorded one with --metric)"
        return Verdict(None, None, False, False, reason, notes, tests)

    fitted = evidence.fitted if evidence is not None else None

    def mean(c: Candidate) -> float:
        return fitted.mean(c.row) if fitted is not None and c.row in fitted else c.aggregate.mean

    ranked = sorted(eligible, key=lambda c: (-sign * round(mean(c), 10), not c.is_base, order[c.option]))
    top = ranked[0]
    tied = [c.option for c in ranked[1:] if abs(mean(c) - mean(top)) <= TIE]
    if tied:
        rule = "the base option wins a tie" if top.is_base else "the option listed first wins a tie"
        notes.append(f"tie at {mean(top):.4f} between {top.option} and {', '.join(tied)}: {rule}")
    better = [c for c in ranked if not c.is_base and tests.get(c.option) and tests[c.option].significant(level)
              and sign * tests[c.option].difference > 0]
    test = tests.get(top.option)
    if better:
        winner, test = better[0], tests[better[0].option]
        early = f"; {winner.won}" if winner.won else ""
        verdict = Verdict(winner.option, top.option, False, False,
                          f"better than the base by {signed(test.difference)}: {_p_text(test)}; {test.method}{early}",
                          notes, tests)
    elif top.is_base:
        ahead = [c.option for c in candidates if c.out and c.values and sign * (mean(c) - mean(top)) > TIE]
        stopped = f" of the rows racing did not stop ({', '.join(ahead)}: stopped with a better mean, see the notes)" \
            if ahead else ""
        verdict = Verdict(top.option, top.option, True, False, f"the base option has the best mean{stopped}", notes,
                          tests)
    elif base is None or base not in eligible:
        verdict = Verdict(None, top.option, False, False, "best mean, untested: the base did not complete",
                          notes, tests)
    elif test is None or test.p_value is None:
        reason = test.method if test is not None else "no test"
        verdict = Verdict(base.option, top.option, True, False,
                          f"{top.option} has the best mean ({signed(test.difference if test else None)} against the "
                          f"base), untested against seed luck: {reason}; the base is kept", notes, tests,
                          untested=True)
    else:
        verdict = Verdict(base.option, top.option, True, True,
                          f"{top.option} has the best mean, {signed(test.difference)}, but is within noise of the "
                          f"base: {_p_text(test)} >= {level}; {test.method}; a difference of {test.detectable_text} "
                          "would be found; the base is kept", notes, tests, undecided=test)
    _runner_up(verdict, ranked, candidates, evidence, level)
    return verdict


def _p_text(test: Test) -> str:
    adjusted = f", adjusted p={test.p_adjusted:.3g}" if test.p_adjusted is not None else ""
    return f"p={test.p_value:.3g}{adjusted}"


def _runner_up(verdict: Verdict, ranked: list[Candidate], candidates: Sequence[Candidate],
               evidence: Evidence | None, level: float) -> None:
    """Say whether the winner is ahead of the runner-up beyond noise (a two-sided contrast, uncorrected)."""
    from scipy.stats import t as student

    runner_up = next((c for c in ranked if c.option != verdict.winner), None)
    winner = next((c for c in candidates if c.option == verdict.winner), None)
    if runner_up is None or winner is None or evidence is None or evidence.fitted is None or \
            (verdict.kept_base and runner_up.option == verdict.top) or \
            winner.row not in evidence.fitted or runner_up.row not in evidence.fitted:
        return
    contrast = evidence.contrast(winner.row, runner_up.row)
    if contrast.se is None or contrast.se == 0:
        return
    p_value = float(2 * student.sf(abs(contrast.estimate) / contrast.se, contrast.df))
    if p_value < level:
        verdict.notes.append(f"ahead of the runner-up {runner_up.option} by {signed(contrast.estimate)} "
                             f"(two-sided p={p_value:.3g})")
    else:
        verdict.notes.append(f"within noise of the runner-up {runner_up.option} (two-sided p={p_value:.3g})")


def what_would_decide(test: Test, alpha: float, replicate: str = "seeds") -> str:
    """How many replicates of the kind compared would find the difference this test saw with 80% power (the
    standard error shrinking as 1/sqrt(replicates)); empty where no number would do."""
    if test.se is None or not test.difference or test.critical is None or test.replicates < 1:
        return ""
    needed = math.ceil(test.replicates * (test.detectable / abs(test.difference)) ** 2)
    if needed <= test.replicates:
        return ""
    if needed > 50:
        return (f"a difference of {signed(test.difference)} is too small for more {replicate} to decide (about "
                f"{needed} would): the base is kept")
    return f"to decide it: about {needed} {replicate} would find a difference of {signed(test.difference)} with 80% " \
        "power"


SPENDINGS = ("haybittle_peto", "obrien_fleming", "pocock")
HAYBITTLE_PETO = 0.001  # each early look's level: small, so the last look keeps almost all of alpha


def spent_alpha(alpha: float, fraction: float, spending: str) -> float:
    """The share of ``alpha`` a group-sequential design has spent by this fraction of its replicates (Lan and
    DeMets 1983): O'Brien-Fleming's type spends almost nothing early, Pocock's type spends evenly."""
    from scipy.stats import norm

    if spending == "obrien_fleming":
        return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(fraction)))
    return float(alpha * math.log(1 + (math.e - 1) * fraction))


def efficacy_boundaries(alpha: float, looks: int, spending: str | None) -> list[float]:
    """The p each of ``looks`` looks (one after each replicate, fixed when the sweep is planned) must beat for a
    win; the last look gets what the earlier ones left, so their sum is alpha and any false win over the looks has
    probability at most alpha, whatever their correlation (a Bonferroni bound; a win's stage-wise p is the earlier
    looks' sum plus its own). ``haybittle_peto``: 0.001 at each early look; the others spend as Lan and DeMets."""
    if spending is None or looks <= 1:
        return [alpha] * max(looks, 1)
    if spending == "haybittle_peto":
        early = [min(HAYBITTLE_PETO, alpha / looks)] * (looks - 1)
        return [*early, alpha - sum(early)]
    spent = [spent_alpha(alpha, look / looks, spending) for look in range(1, looks)] + [alpha]
    return [spent[0]] + [later - earlier for earlier, later in pairwise(spent)]


def signed(value: float | None) -> str:
    """A difference in fixed decimals of the metric, with enough of them to tell it from none: ``+0.0012``,
    ``+0.000032``, ``-0.0000040``, ``0`` for none (never an exponent)."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:+.{min(12, max(4, math.ceil(-math.log10(abs(value))) + 1))}f}"
