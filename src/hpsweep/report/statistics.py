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

Every test also says the smallest difference it could have detected at ``alpha``: from the spread of the paired
differences for a t-test, from the number of images (or views) and how many of them the two options disagree
on for McNemar's. A best mean that is not significant is *undecided with this validation* (not "equal"), and
``what_would_decide`` says what more replicates or cross-validation would detect.

Racing (``hpsweep.sweep.racing``) stops an option early when ``race_test`` finds it significantly worse than
its comparison's leader after some replicates: such an option is *eliminated*, a loser of the verdict, not an
incomplete one. ``race_test`` pools the per-image correctness of every replicate both options completed into
one McNemar test (the replicates' validation images are distinct draws, so the pooled pairs are as many
paired observations); without per-image predictions it falls back to ``paired_test``. Where the race looked for
a win after each replicate (efficacy stopping, ``efficacy_boundaries``), a win it recorded is the verdict, and
the test over every replicate (rule 3) is at what those looks left of alpha.
"""

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

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
    won: str | None = None  # why racing stopped its comparison for it: it beat the base at an efficacy boundary
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
    # the smallest difference the test could have found at alpha: in the metric's units for a t-test, as a share
    # of the images (views) for McNemar's (``images`` then says how many); None where nothing could be detected
    detectable: float | None = None
    replicates: int = 0
    images: int | None = None  # McNemar: the images (or views of images) paired
    unit: str = "images"  # views: a distorted metric pairs every view of every image
    spread: float | None = None  # the standard deviation of one replicate's difference, for projections

    def significant(self, alpha: float) -> bool:
        return self.p_value is not None and self.p_value < alpha

    @property
    def detectable_text(self) -> str:
        if self.detectable is None:
            return "no difference at all (too few images or replicates)"
        if self.images:
            return f"{self.detectable:.3f} ({round(self.detectable * self.images)} of {self.images} {self.unit} right)"
        return f"{self.detectable:.4f}"


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


def paired_test(a: Candidate, b: Candidate, alpha: float = 0.05) -> Test:
    """``a`` against ``b``, paired over the replicates both completed."""
    shared = sorted(set(a.values) & set(b.values))
    if not shared:
        return Test(None, None, "no replicate in common")
    differences = [a.values[key] - b.values[key] for key in shared]
    difference = float(np.mean(differences))
    if len(shared) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # identical values: nan, taken as no difference
            from scipy.stats import ttest_rel

            p_value = float(ttest_rel([a.values[k] for k in shared], [b.values[k] for k in shared]).pvalue)
        spread = float(np.std(differences, ddof=1))
        return Test(difference, 1.0 if math.isnan(p_value) else p_value, f"paired t-test over {len(shared)} "
                    "replicates", t_detectable(spread, len(shared), alpha), len(shared), spread=spread)
    right_a, right_b = a.correct(shared[0]), b.correct(shared[0])
    if not right_a or not right_b or set(right_a) != set(right_b):
        return Test(difference, None, "one replicate each and no per-image predictions "
                                      "(val_probabilities.csv) to compare", replicates=1)
    return _mcnemar(a, b, [(right_a, right_b)], difference, "", alpha)


def t_detectable(spread: float, replicates: int, alpha: float) -> float:
    """The smallest mean difference a paired t-test over ``replicates`` with this spread calls significant."""
    from scipy.stats import t

    return float(t.ppf(1 - alpha / 2, replicates - 1) * spread / math.sqrt(replicates))


def mcnemar_detectable(disagreeing: int, images: int, alpha: float) -> float | None:
    """The smallest share of ``images`` that McNemar's exact test calls significant, where the two options
    disagree on ``disagreeing`` of them (a larger difference disagrees on at least as many)."""
    from scipy.stats import binomtest

    for more in range(1, images + 1):  # one option right on `more` images more than the other
        pairs = max(disagreeing, more)
        if binomtest((pairs + more + 1) // 2, pairs, 0.5).pvalue < alpha:
            return more / images
    return None


def _mcnemar(a: Candidate, b: Candidate, pairs: list[tuple[dict, dict]], difference: float, pooled: str,
             alpha: float) -> Test:
    """McNemar's exact test on the images where ``a`` and ``b`` disagree, over each (a's, b's) correctness pair."""
    from scipy.stats import binomtest

    only_a, only_b = _split(pairs)
    images = sum(len(right_a) for right_a, _ in pairs)
    unit = "views" if any("@" in image for right_a, _ in pairs for image in right_a) else "images"  # <image>@<view>
    p_value = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    # under no difference, one replicate's (only_a - only_b) / images has this standard deviation
    spread = math.sqrt(only_a + only_b) / images * math.sqrt(len(pairs))
    return Test(difference, float(p_value), f"McNemar on {images} {unit}{pooled}: {only_a} right only by "
                                           f"{a.option}, {only_b} only by {b.option}",
                mcnemar_detectable(only_a + only_b, images, alpha), len(pairs), images, unit, spread)


def race_test(a: Candidate, b: Candidate, alpha: float = 0.05) -> Test:
    """``a`` against ``b`` for racing: McNemar's exact test on the validation images of every replicate both
    completed, pooled (``paired_test`` where a replicate lacks per-image predictions)."""
    shared = sorted(set(a.values) & set(b.values))
    pairs = [(a.correct(key), b.correct(key)) for key in shared]
    if not shared or any(not right_a or not right_b or set(right_a) != set(right_b) for right_a, right_b in pairs):
        return paired_test(a, b, alpha)
    difference = float(np.mean([a.values[key] - b.values[key] for key in shared]))
    return _mcnemar(a, b, pairs, difference, f" of {len(shared)} replicate(s) pooled", alpha)


def predictive_power(a: Candidate, b: Candidate, planned: int, alpha: float) -> float | None:
    """The probability that ``race_test(a, b)`` over all ``planned`` replicates will be significant (in either
    direction), given the replicates both completed: Spiegelhalter's predictive power, conditional power averaged
    over what the observed data say about the true difference (the "current trend" alone trusts one noisy
    estimate). None where it cannot be estimated (one replicate without per-image predictions).

    Pooled McNemar: the remaining replicates add as many disagreements per replicate as were seen, split between
    the two as a Beta(1/2, 1/2) prior updated by the observed split says (a beta-binomial). Paired t-test: the
    remaining replicates' mean difference is normal around the observed one, with the observed spread, widened by
    the uncertainty of the observed mean. Both assume replicates alike (exchangeable seeds or folds)."""
    from scipy.stats import betabinom, binom, norm
    from scipy.stats import t as student

    done = len(set(a.values) & set(b.values))
    if done == 0:
        return None
    if done >= planned:
        return 1.0 if race_test(a, b, alpha).significant(alpha) else 0.0
    test = race_test(a, b, alpha)
    if test.images:  # pooled McNemar
        only_a, only_b = _split([(a.correct(key), b.correct(key)) for key in sorted(set(a.values) & set(b.values))])
        seen = only_a + only_b
        more = round(seen * (planned - done) / done)
        total = seen + more
        if total == 0:
            return 0.0
        # the exact two-sided test at p = 1/2 is symmetric: significant at `high` or more of either side
        high = next((k for k in range(total // 2 + 1, total + 1) if 2 * binom.sf(k - 1, total, 0.5) < alpha), None)
        if high is None:
            return 0.0
        future = betabinom(more, only_a + 0.5, only_b + 0.5)
        return float(future.sf(high - only_a - 1) + future.cdf(total - high - only_a))
    if test.spread is None or done < 2:
        return None
    differences = [a.values[key] - b.values[key] for key in sorted(set(a.values) & set(b.values))]
    mean, spread = float(np.mean(differences)), test.spread
    if spread == 0:
        return 0.0 if mean == 0 else 1.0
    critical = float(student.ppf(1 - alpha / 2, planned - 1)) * spread / math.sqrt(planned)
    rest = planned - done
    # the final mean: (done * observed + rest * future) / planned, the future mean ~ N(mean, spread^2 (1/rest + 1/done))
    width = rest / planned * spread * math.sqrt(1 / rest + 1 / done)
    return float(norm.cdf((-critical - mean) / width) + norm.sf((critical - mean) / width))


def _split(pairs: list[tuple[dict, dict]]) -> tuple[int, int]:
    """Images right only by the first, only by the second, over each (first's, second's) correctness pair."""
    only_a = sum(right_a[image] and not right_b[image] for right_a, right_b in pairs for image in right_a)
    only_b = sum(right_b[image] and not right_a[image] for right_a, right_b in pairs for image in right_a)
    return only_a, only_b


def difference_interval(a: Candidate, b: Candidate, alpha: float) -> tuple[float, float] | None:
    """The (1 - 2 alpha) confidence interval of the mean difference of a - b per replicate (a t interval over the
    replicates both completed): inside +-min_effect it shows the two equivalent at ``alpha`` (two one-sided
    tests). None below two replicates."""
    from scipy.stats import t as student

    differences = [a.values[key] - b.values[key] for key in sorted(set(a.values) & set(b.values))]
    if len(differences) < 2:
        return None
    mean, spread = float(np.mean(differences)), float(np.std(differences, ddof=1))
    half = float(student.ppf(1 - alpha, len(differences) - 1)) * spread / math.sqrt(len(differences))
    return mean - half, mean + half


SPENDINGS = ("obrien_fleming", "pocock")  # Lan and DeMets' spending functions of those two designs


def spent_alpha(alpha: float, fraction: float, spending: str) -> float:
    """The share of ``alpha`` a group-sequential design has spent by this fraction of its replicates (Lan and
    DeMets 1983): O'Brien-Fleming's type spends almost nothing early, Pocock's type spends evenly."""
    from scipy.stats import norm

    if spending == "obrien_fleming":
        return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(fraction)))
    return float(alpha * math.log(1 + (math.e - 1) * fraction))


def efficacy_boundaries(alpha: float, looks: int, spending: str | None) -> list[float]:
    """The p-value each look of ``looks`` (one after each replicate) must beat for a win, the last being the
    verdict's test over every replicate: each look gets what the spending function spends from the look before to
    it. Their sum is alpha, so the chance of any false win over all the looks is at most alpha whatever the looks'
    correlation (a Bonferroni split: the tests differ, pooled McNemar early, the verdict's test at the end).
    Without spending (no early looks), the one look is at alpha."""
    if spending is None or looks <= 1:
        return [alpha] * max(looks, 1)
    spent = [spent_alpha(alpha, look / looks, spending) for look in range(1, looks)] + [alpha]
    return [spent[0]] + [later - earlier for earlier, later in pairwise(spent)]


def what_would_decide(test: Test, alpha: float, replicate: str = "seeds", labelled: int | None = None,
                      validated: int | None = None) -> str:
    """What would decide a comparison this test could not: more replicates of the kind compared (``replicate``),
    and for one replicate validated on ``validated`` of ``labelled`` images, cross-validation over all of them;
    each with the difference it would detect (from the test's spread: the same disagreement per image, or the
    same variation per replicate)."""
    if test.spread is None or test.spread == 0:
        return ""
    ways = []
    if test.images and labelled and validated and test.replicates == 1 and labelled > validated:
        folds = 5  # the fold category's five folds: every labelled image is validated once
        per_fold = test.spread * math.sqrt(validated / (labelled / folds))  # the same disagreement per image
        ways.append(f"cross-validating it (add fold to category=, {folds} folds over all {labelled} labelled images) "
                    f"would detect about {t_detectable(per_fold, folds, alpha):.3f}")
    more = max(5, 2 * test.replicates)
    same = f" on the same {test.images // test.replicates} {test.unit}" if test.images else ""
    ways.append(f"{more} {replicate}{same} about {t_detectable(test.spread, more, alpha):.3f}")
    return "to decide it: " + "; ".join(ways)


def decide(candidates: Sequence[Candidate], higher_is_better: bool, alpha: float,
           spending: str | None = None) -> Verdict:
    """The winner of one category (see the module's docstring for the rule). ``spending``: the race looked for a win
    after each replicate (``efficacy_boundaries``), so a candidate that won there wins, and the test over every
    replicate is at what the earlier looks left of alpha."""
    sign = 1.0 if higher_is_better else -1.0
    base = next((candidate for candidate in candidates if candidate.is_base), None)
    against_base = {candidate.option: paired_test(candidate, base, alpha) for candidate in candidates
                    if base is not None and candidate is not base}
    order = {candidate.option: number for number, candidate in enumerate(candidates)}
    eligible = [candidate for candidate in candidates if candidate.complete and candidate.values
                and not candidate.eliminated]
    out = [candidate.option for candidate in candidates if not candidate.complete and not candidate.eliminated]
    # a task function that returns None (lightning-hydra-template's without optimized_metric) completes valueless
    valueless = [candidate.option for candidate in candidates if candidate.complete and not candidate.values
                 and not candidate.eliminated]
    notes = [f"{candidate.option}: eliminated {candidate.eliminated}" for candidate in candidates
             if candidate.eliminated]
    notes += [f"{', '.join(out)}: not all replicates completed, so not compared"] if out else []
    notes += [f"{', '.join(valueless)}: completed without a value of the metric, so not compared"] if valueless else []
    if not eligible:
        reason = "no option completed all its replicates" if out or not valueless else \
            "nothing to decide by: the trainings completed without a value of the metric (a task function that " \
            "returns None; return the metric, or name a recorded one with --metric)"
        return Verdict(None, None, False, False, reason, notes, against_base)

    ranked = sorted(eligible, key=lambda c: (-sign * c.aggregate.mean, not c.is_base, order[c.option]))
    top = ranked[0]
    tied = [c.option for c in ranked[1:] if abs(c.aggregate.mean - top.aggregate.mean) <= TIE]
    if tied:
        rule = "the base option wins a tie" if top.is_base else "the option listed first wins a tie"
        notes.append(f"tie at {top.aggregate.mean:.4f} between {top.option} and {', '.join(tied)}: {rule}")
    won = next((candidate for candidate in eligible if candidate.won), None)
    if won is not None:
        verdict = Verdict(won.option, won.option, False, False, won.won, notes, against_base)
    elif top.is_base:
        verdict = Verdict(top.option, top.option, True, False, "the base option has the best mean", notes,
                          against_base)
    elif base is None or base not in eligible:
        verdict = Verdict(top.option, top.option, False, False, "best mean; the base did not complete, so it "
                          "is not compared", notes, against_base)
    else:
        test = against_base[top.option]
        final = efficacy_boundaries(alpha, test.replicates, spending)[-1]
        level = f"{final:.3g}, what the race's earlier looks left of alpha {alpha}" if final < alpha else f"{alpha}"
        if test.p_value is None:
            verdict = Verdict(top.option, top.option, False, False,
                              f"best mean ({signed(test.difference)} against the base), untested: {test.method}",
                              notes, against_base)
        elif test.significant(final) and sign * test.difference > 0:
            verdict = Verdict(top.option, top.option, False, False,
                              f"better than the base by {signed(test.difference)} ({test.method}, "
                              f"p={test.p_value:.3g})", notes, against_base)
        else:
            verdict = Verdict(base.option, top.option, True, True,
                              f"{top.option} has the best mean ({signed(test.difference)}) but is within noise of "
                              f"the base ({test.method}, p={test.p_value:.3g} >= {level}): undecided with this "
                              f"validation, which could detect a difference of {test.detectable_text} or more; "
                              "the base is kept", notes, against_base, undecided=test)
    runner_up = next((c for c in ranked if c.option != verdict.winner), None)
    winner = next(c for c in candidates if c.option == verdict.winner)
    if runner_up is not None and not (verdict.kept_base and runner_up.option == top.option):
        test = paired_test(winner, runner_up, alpha)
        if test.p_value is not None and not test.significant(alpha):
            notes.append(f"within noise of the runner-up {runner_up.option} ({test.method}, p={test.p_value:.3g})")
        elif test.significant(alpha):
            notes.append(f"significantly ahead of the runner-up {runner_up.option} by {signed(test.difference)} "
                         f"({test.method}, p={test.p_value:.3g} < {alpha})")
    return verdict


def signed(value: float | None) -> str:
    """A difference with enough digits to tell it from none: ``+0.0012``, ``+3.2e-05``, ``0`` for none."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:+.4f}" if abs(value) >= 5e-5 else f"{value:+.1e}"
