"""Statistics of the answer, in one place: replicate values -> aggregates, paired tests and a verdict.

The summary, the plots, ``hpsweep best`` and greedy sweeps all ask ``decide``, so they cannot disagree.

The rule, in order:
1. An option competes when every replicate it was asked for completed (a failed, pruned or missing
   replicate puts it out).
2. Options are ranked by their mean over replicates. A tie (equal means) goes to the base option, then to
   the option listed first; the verdict says so.
3. The best option is compared with the base option, paired over the replicates both have: with two or more,
   a paired t-test of the metric (``scipy.stats.ttest_rel``); with one (no seeds or folds swept), McNemar's
   exact test of which validation images each got right (``scipy.stats.binomtest`` on the images where they
   disagree). It wins only where it is better with p < ``alpha``; otherwise it is within noise of the base,
   and the base option is kept. Where no test is possible the best mean wins, and the verdict says it is
   untested.
4. The winner is also compared with the runner-up, and the verdict says when they are within noise.

Racing (``hpsweep.sweep.racing``) stops an option early when ``race_test`` finds it significantly worse than
its comparison's leader after some replicates: such an option is *eliminated*, a loser of the verdict, not an
incomplete one. ``race_test`` pools the per-image correctness of every replicate both options completed into
one McNemar test (the replicates' validation images are distinct draws, so the pooled pairs are as many
paired observations); without per-image predictions it falls back to ``paired_test``.
"""

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

TIE = 1e-12  # means closer than this are equal


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
    """One option of a comparison: its metric per replicate, and each replicate's per-image correctness."""

    option: str
    values: dict[str, float]  # replicate label -> metric, completed replicates only
    complete: bool  # every replicate it was asked for completed
    is_base: bool = False
    eliminated: str | None = None  # when and why racing stopped it ("after 1 replicate(s), worse than ...")
    correct: Callable[[str], dict[str, bool] | None] = lambda replicate: None  # image id -> right, per replicate

    @property
    def aggregate(self) -> Aggregate:
        return Aggregate(tuple(self.values[key] for key in sorted(self.values)))


@dataclass(frozen=True)
class Test:
    """One candidate against another over what they share."""

    difference: float | None  # mean of a - b over the shared replicates (in the metric's units)
    p_value: float | None  # None: no test was possible
    method: str

    def significant(self, alpha: float) -> bool:
        return self.p_value is not None and self.p_value < alpha


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


def paired_test(a: Candidate, b: Candidate) -> Test:
    """``a`` against ``b``, paired over the replicates both completed."""
    shared = sorted(set(a.values) & set(b.values))
    if not shared:
        return Test(None, None, "no replicate in common")
    difference = float(np.mean([a.values[key] - b.values[key] for key in shared]))
    if len(shared) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # identical values: nan, taken as no difference
            from scipy.stats import ttest_rel

            p_value = float(ttest_rel([a.values[k] for k in shared], [b.values[k] for k in shared]).pvalue)
        return Test(difference, 1.0 if math.isnan(p_value) else p_value, f"paired t-test over {len(shared)} replicates")
    right_a, right_b = a.correct(shared[0]), b.correct(shared[0])
    if not right_a or not right_b or set(right_a) != set(right_b):
        return Test(difference, None, "one replicate each and no per-image predictions "
                                      "(val_probabilities.csv) to compare")
    return _mcnemar(a, b, [(right_a, right_b)], difference, "")


def _mcnemar(a: Candidate, b: Candidate, pairs: list[tuple[dict, dict]], difference: float, pooled: str) -> Test:
    """McNemar's exact test on the images where ``a`` and ``b`` disagree, over each (a's, b's) correctness pair."""
    from scipy.stats import binomtest

    only_a = sum(right_a[image] and not right_b[image] for right_a, right_b in pairs for image in right_a)
    only_b = sum(right_b[image] and not right_a[image] for right_a, right_b in pairs for image in right_a)
    images = sum(len(right_a) for right_a, _ in pairs)
    p_value = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return Test(difference, float(p_value), f"McNemar on {images} images{pooled}: {only_a} right only by "
                                           f"{a.option}, {only_b} only by {b.option}")


def race_test(a: Candidate, b: Candidate) -> Test:
    """``a`` against ``b`` for racing: McNemar's exact test on the validation images of every replicate both
    completed, pooled (``paired_test`` where a replicate lacks per-image predictions)."""
    shared = sorted(set(a.values) & set(b.values))
    pairs = [(a.correct(key), b.correct(key)) for key in shared]
    if not shared or any(not right_a or not right_b or set(right_a) != set(right_b) for right_a, right_b in pairs):
        return paired_test(a, b)
    difference = float(np.mean([a.values[key] - b.values[key] for key in shared]))
    return _mcnemar(a, b, pairs, difference, f" of {len(shared)} replicate(s) pooled")


def decide(candidates: Sequence[Candidate], higher_is_better: bool, alpha: float) -> Verdict:
    """The winner of one category (see the module's docstring for the rule)."""
    sign = 1.0 if higher_is_better else -1.0
    base = next((candidate for candidate in candidates if candidate.is_base), None)
    against_base = {candidate.option: paired_test(candidate, base) for candidate in candidates
                    if base is not None and candidate is not base}
    order = {candidate.option: number for number, candidate in enumerate(candidates)}
    eligible = [candidate for candidate in candidates if candidate.complete and candidate.values
                and not candidate.eliminated]
    out = [candidate.option for candidate in candidates if candidate not in eligible and not candidate.eliminated]
    notes = [f"{candidate.option}: eliminated {candidate.eliminated}" for candidate in candidates
             if candidate.eliminated]
    notes += [f"{', '.join(out)}: not all replicates completed, so not compared"] if out else []
    if not eligible:
        return Verdict(None, None, False, False, "no option completed all its replicates", notes, against_base)

    ranked = sorted(eligible, key=lambda c: (-sign * c.aggregate.mean, not c.is_base, order[c.option]))
    top = ranked[0]
    tied = [c.option for c in ranked[1:] if abs(c.aggregate.mean - top.aggregate.mean) <= TIE]
    if tied:
        rule = "the base option wins a tie" if top.is_base else "the option listed first wins a tie"
        notes.append(f"tie at {top.aggregate.mean:.4f} between {top.option} and {', '.join(tied)}: {rule}")
    if top.is_base:
        verdict = Verdict(top.option, top.option, True, False, "the base option has the best mean", notes,
                          against_base)
    elif base is None or base not in eligible:
        verdict = Verdict(top.option, top.option, False, False, "best mean; the base did not complete, so it "
                          "is not compared", notes, against_base)
    else:
        test = against_base[top.option]
        if test.p_value is None:
            verdict = Verdict(top.option, top.option, False, False,
                              f"best mean ({_signed(test.difference)} against the base), untested: {test.method}",
                              notes, against_base)
        elif test.significant(alpha) and sign * test.difference > 0:
            verdict = Verdict(top.option, top.option, False, False,
                              f"better than the base by {_signed(test.difference)} ({test.method}, "
                              f"p={test.p_value:.3g})", notes, against_base)
        else:
            verdict = Verdict(base.option, top.option, True, True,
                              f"{top.option} has the best mean ({_signed(test.difference)}) but is within noise of "
                              f"the base ({test.method}, p={test.p_value:.3g} >= {alpha}): the base is kept",
                              notes, against_base)
    runner_up = next((c for c in ranked if c.option != verdict.winner), None)
    winner = next(c for c in candidates if c.option == verdict.winner)
    if runner_up is not None and not (verdict.kept_base and runner_up.option == top.option):
        test = paired_test(winner, runner_up)
        if test.p_value is not None and not test.significant(alpha):
            notes.append(f"within noise of the runner-up {runner_up.option} ({test.method}, p={test.p_value:.3g})")
    return verdict


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"
