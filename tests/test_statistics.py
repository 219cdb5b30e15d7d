"""The rule that decides a category, from tables of replicate values (see hpsweep.decide.statistics and
hpsweep.decide.inference): the pooled row + replicate model, Dunnett within a comparison, the sweep's correction."""

import numpy as np
import pytest
from scipy.stats import t as student

from hpsweep.decide.inference import Evidence, Run, macro_f1, predictive_power
from hpsweep.decide.statistics import (
    Aggregate,
    Candidate,
    compare,
    correct,
    decide,
    efficacy_boundaries,
    evidence_of,
    signed,
    what_would_decide,
)
from hpsweep.report.plots import error_bar

SEEDS = ("seed=1", "seed=2", "seed=3")


def candidate(option, values, is_base=False, complete=True, **more):
    return Candidate(option, dict(zip(SEEDS, values, strict=False)), complete, is_base, **more)


def verdict_of(candidates, higher_is_better=True, alpha=0.05, multiplicity="bh", boundaries=()):
    evidence = evidence_of(candidates, "val_f1")
    tests = compare(evidence, candidates, higher_is_better, alpha, boundaries)
    correct([tests], multiplicity, alpha)
    return decide(candidates, tests, higher_is_better, alpha, evidence)


def test_aggregates_are_the_mean_and_sample_std_of_the_replicates():
    aggregate = Aggregate((0.8, 0.9, 0.7))
    assert (aggregate.n, aggregate.min, aggregate.max) == (3, 0.7, 0.9)
    assert aggregate.mean == pytest.approx(0.8) and aggregate.std == pytest.approx(0.1)
    assert Aggregate((0.5,)).std is None, "no spread from one replicate"


def test_the_pooled_model_is_two_way_anova_on_a_balanced_table():
    """Rows x seeds, balanced: the residual variance of the additive model on (R-1)(S-1) degrees of freedom, and a
    difference of two rows' means with standard error sqrt(2 sigma^2 / S)."""
    table = np.array([[0.80, 0.82, 0.78], [0.85, 0.86, 0.83], [0.79, 0.83, 0.80], [0.81, 0.80, 0.79]])
    residuals = table - table.mean(1, keepdims=True) - table.mean(0, keepdims=True) + table.mean()
    sigma2 = (residuals ** 2).sum() / (3 * 2)
    rows = [candidate("base", table[0], is_base=True)] + [candidate(f"o{k}", table[k]) for k in (1, 2, 3)]
    evidence = evidence_of(rows, "val_f1")
    assert evidence.df == 6 and evidence.fitted.sigma2 == pytest.approx(sigma2)
    contrast = evidence.contrast("o1", "base")
    assert contrast.estimate == pytest.approx(table[1].mean() - table[0].mean())
    assert contrast.df == 6 and contrast.se == pytest.approx(np.sqrt(2 * sigma2 / 3))


def test_the_winner_is_chosen_by_mean_not_by_its_luckiest_replicate():
    lucky = candidate("Lucky", [0.95, 0.70, 0.71])  # the highest single value, a poor mean
    steady = candidate("Steady", [0.80, 0.80, 0.81])
    base = candidate("Base", [0.70, 0.70, 0.70], is_base=True)
    others = [candidate("Other", [0.70, 0.71, 0.70]), candidate("More", [0.71, 0.70, 0.71])]
    verdict = verdict_of([base, lucky, steady, *others])
    assert verdict.winner == "Steady" and not verdict.kept_base
    assert "better than the base by +0.1033: p=" in verdict.reason
    assert "Lucky's own spread" in verdict.against_base["Lucky"].method, "it spoils no other row's test"
    # with a row on its own spread, Dunnett's covers the pooled rows at their share of alpha (Bonferroni's split)
    assert "Dunnett over the 3 of 4 option(s) on the pooled variance, at 0.75 of alpha" in verdict.reason
    assert verdict.against_base["Lucky"].method.startswith("Bonferroni, 1 of 4 option(s)")


def test_a_winner_within_noise_of_the_base_keeps_the_base_and_says_what_it_would_detect():
    base = candidate("AdamW", [0.80, 0.82, 0.78], is_base=True)
    close = candidate("SGD", [0.81, 0.80, 0.80])
    verdict = verdict_of([base, close])
    assert (verdict.winner, verdict.top, verdict.kept_base, verdict.within_noise) == ("AdamW", "SGD", True, True)
    assert "SGD has the best mean, +0.0033, but is within noise of the base" in verdict.reason
    assert "(80% power) would be found; the base is kept" in verdict.reason
    test = verdict.undecided
    assert test.critical < test.detectable, "the 80%-power difference is larger than the one found half the time"


def test_ties_go_to_the_base_then_to_the_option_listed_first_and_are_said():
    verdict = verdict_of([candidate("A", [0.8, 0.8, 0.8]), candidate("B", [0.8, 0.8, 0.8], is_base=True)])
    assert verdict.winner == "B" and "tie at 0.8000 between B and A: the base option wins a tie" in verdict.notes
    verdict = verdict_of([candidate("A", [0.9, 0.91, 0.9]), candidate("C", [0.9, 0.91, 0.9]),
                          candidate("B", [0.5, 0.52, 0.5], is_base=True)])
    assert verdict.top == "A" and "the option listed first wins a tie" in verdict.notes[0]


def test_options_that_did_not_complete_every_replicate_or_that_racing_stopped_do_not_win():
    base = candidate("base", [0.5, 0.52, 0.51], is_base=True)
    broken = candidate("Diverge", [0.99], complete=False)  # one seed completed, two failed
    verdict = verdict_of([base, broken, candidate("Other", [0.5, 0.51, 0.52])])
    assert verdict.winner == "base" and "Diverge: not all replicates completed" in verdict.notes[0]
    # stopped as futile after one lucky seed: it drops out, whatever its one value
    lucky = candidate("Lucky", [0.99], stopped="futile", stop_reason="stopped after 1: within noise of X")
    steady = candidate("Steady", [0.60, 0.61, 0.60])
    verdict = verdict_of([base, lucky, steady])
    assert verdict.winner == "Steady" and verdict.top == "Steady"
    assert "Lucky: stopped after 1: within noise of X" in verdict.notes
    verdict = verdict_of([base, lucky, candidate("Level", [0.50, 0.52, 0.51])])
    assert verdict.kept_base and verdict.reason == "the base option has the best mean of the rows racing did not " \
        "stop (Lucky: stopped with a better mean, see the notes)"


def test_lower_is_better_for_a_loss():
    verdict = verdict_of([candidate("base", [0.9, 0.8, 0.85], is_base=True), candidate("X", [0.3, 0.2, 0.25])],
                         higher_is_better=False)
    assert verdict.winner == "X"


def test_one_run_each_is_untested_against_seed_luck_never_a_win():
    verdict = verdict_of([Candidate("base", {"": 0.5}, True, True), Candidate("X", {"": 0.9}, True)])
    assert (verdict.winner, verdict.kept_base, verdict.untested, verdict.top) == ("base", True, True, "X")
    assert "untested against seed luck" in verdict.reason and "control_seeds" in verdict.reason


def test_control_seeds_test_one_run_against_the_bases_spread_as_a_prediction_interval():
    control = {"": 0.80, "seed=43": 0.82, "seed=44": 0.79, "seed=45": 0.81, "seed=46": 0.80}
    base = Candidate("base", control, True, True)
    option = Candidate("X", {"": 0.86}, True)
    evidence = evidence_of([base, option], "val_f1")
    tests = compare(evidence, [base, option], True, 0.05)
    spread = np.std(list(control.values()), ddof=1)
    t_value = (0.86 - np.mean(list(control.values()))) / (spread * np.sqrt(1 + 1 / 5))
    assert tests["X"].df == 4 and tests["X"].p_value == pytest.approx(student.sf(t_value, 4))
    assert verdict_of([base, option]).winner == "X"


def test_an_option_less_stable_than_the_rest_is_tested_on_its_own_spread():
    rows = [candidate("base", [0.80, 0.81, 0.80], is_base=True), candidate("A", [0.80, 0.80, 0.81]),
            candidate("B", [0.81, 0.80, 0.80]), candidate("Wild", [0.99, 0.75, 0.90])]
    evidence = evidence_of(rows, "val_f1")
    wild, steady = evidence.contrast("Wild", "base"), evidence.contrast("A", "base")
    assert "Wild's own spread (less stable than the rest)" in wild.parts and wild.se > 3 * steady.se
    assert wild.df < evidence.df and evidence.df == 4, "the pool holds the three stable rows alone"
    assert not verdict_of(rows).winner == "Wild", "its mean is +0.08, its seeds far apart"
    tests = compare(evidence, rows, True, 0.05)
    assert tests["Wild"].p_comparison == pytest.approx(min(1.0, 3 * tests["Wild"].p_value)), "a third of alpha"
    alone = compare(evidence_of(rows[:3], "val_f1"), rows[:3], True, 0.05)  # Dunnett's over A and B alone
    assert tests["A"].p_comparison == pytest.approx(min(1.0, alone["A"].p_comparison * 3 / 2), rel=0.05)
    at_their_share = compare(evidence_of(rows[:3], "val_f1"), rows[:3], True, 0.05 * 2 / 3)
    assert tests["A"].critical == pytest.approx(at_their_share["A"].critical, rel=0.01)
    assert tests["A"].critical > alone["A"].critical, "a smaller share of alpha needs a larger difference"
    unsteady_base = [candidate("base", [0.99, 0.75, 0.90], is_base=True), *rows[1:3],
                     candidate("C", [0.80, 0.81, 0.80])]
    tests = compare(evidence_of(unsteady_base, "val_f1"), unsteady_base, True, 0.05)
    raw = sorted((test.p_value, option) for option, test in tests.items())
    holm = np.maximum.accumulate([min(1.0, p * (3 - rank)) for rank, (p, _) in enumerate(raw)])
    assert [tests[option].p_comparison for _, option in raw] == pytest.approx(holm), "the base apart: Holm's"
    assert all(test.method.startswith("Holm, 3 option(s)") for test in tests.values())


def test_the_noisiest_of_many_steady_rows_is_tested_on_its_own_spread_but_stays_in_the_pool():
    """Of nine steady rows, one is flagged at 0.05 by chance in a third of the groups: taking it out of the pool
    would bias every other row's variance down (false wins above alpha). It leaves only at 0.05 over the rows."""
    rng = np.random.default_rng(1)
    rows = [candidate(name, [round(0.8 + rng.normal(0, 0.01), 3) for _ in SEEDS], is_base=name == "base")
            for name in ["base", *(f"o{k}" for k in range(8))]]
    evidence = evidence_of(rows, "val_f1")
    assert list(evidence.fitted.unstable) == ["o7"], "o7 (0.773, 0.781, 0.798) flagged at p=0.044"
    assert "o7's own spread (less stable than the rest)" in evidence.contrast("o7", "base").parts
    assert evidence.df == 9 * 3 - 9 - 2, "every row in the pool: 0.044 >= 0.05 / 9"


def test_a_steady_rows_spread_is_flagged_at_the_level_it_is_tested_at():
    """The F test of a row against the others (it left out of their fit) holds its level: 5 % of steady rows."""
    from scipy.stats import binom

    from hpsweep.decide.inference import _unstable, least_squares

    rng = np.random.default_rng(0)
    flagged = 0
    for _ in range(150):
        luck = rng.normal(0, 1, 3)  # each seed's luck, shared by the rows: the replicate term
        runs = {f"r{row}": {seed: luck[k] + rng.normal(0, 0.1) for k, seed in enumerate(SEEDS)} for row in range(6)}
        flagged += len(_unstable(runs, least_squares(runs)))
    assert binom.ppf(0.001, 900, 0.05) <= flagged <= binom.ppf(0.999, 900, 0.05), flagged


def test_dunnett_corrects_for_the_best_of_several_options():
    rng = np.random.default_rng(3)
    rows = [candidate("base", [0.80, 0.81, 0.80], is_base=True)] + [
        candidate(f"o{k}", list(0.8 + rng.normal(0, 0.01, 3))) for k in range(4)]
    evidence = evidence_of(rows, "val_f1")
    tests = compare(evidence, rows, True, 0.05)
    df = evidence.df
    # simulated: the largest of the 4 contrasts' t statistics, under no difference, with their correlation 0.5
    normal = rng.multivariate_normal(np.zeros(4), np.full((4, 4), 0.5) + 0.5 * np.eye(4), 200_000)
    largest = (normal / np.sqrt(rng.chisquare(df, (200_000, 1)) / df)).max(axis=1)
    for option in ("o0", "o1", "o2", "o3"):
        test = tests[option]
        t_value = test.difference / test.se
        assert test.p_comparison == pytest.approx((largest >= t_value).mean(), abs=0.01)
        assert test.p_comparison >= test.p_value
    single = compare(evidence_of(rows[:2], "val_f1"), rows[:2], True, 0.05)["o0"]
    assert single.p_comparison == pytest.approx(single.p_value), "one option: nothing to correct"
    assert compare(evidence, rows, True, 0.05)["o2"].p_comparison == tests["o2"].p_comparison, \
        "the Monte Carlo integration is seeded: two reads give one verdict"


def test_the_sweeps_comparisons_are_corrected_together():
    def tests(*p_values):
        from hpsweep.decide.statistics import Test

        return {f"o{k}": Test(0.01, p, "", p_comparison=p) for k, p in enumerate(p_values)}

    family = [tests(0.001, 0.2), tests(0.04), tests(0.3)]
    expected = correct(family, "bh", 0.05)
    # BH over the comparisons' smallest p (0.001, 0.04, 0.3) -> (0.003, 0.06, 0.3): one selected, so each of its
    # options is tested at 0.05 * 1/3
    assert family[0]["o0"].p_adjusted == pytest.approx(0.003)
    assert family[0]["o1"].p_adjusted == pytest.approx(0.6)
    assert family[1]["o0"].p_adjusted == pytest.approx(0.06) and expected == pytest.approx(0.05)
    family = [tests(0.001, 0.2), tests(0.04), tests(0.3)]
    assert correct(family, "holm", 0.05) == 0.05
    assert [family[k]["o0"].p_adjusted for k in range(3)] == pytest.approx([0.003, 0.08, 0.3])
    family = [tests(0.001, 0.2), tests(0.04), tests(0.3)]
    correct(family, "none", 0.05)
    assert family[1]["o0"].p_adjusted == 0.04


def test_runs_on_one_fixed_split_add_the_image_sampling_of_a_paired_bootstrap():
    rng = np.random.default_rng(0)
    images = tuple(f"img{k}" for k in range(200))
    target = rng.integers(0, 3, 200)

    def run(value, right):
        predicted = np.where(rng.random(200) < right, target, (target + 1) % 3)
        return Run(value, "split-a", lambda: (images, target, predicted))

    runs = {"base": {s: run(0.8 + 0.01 * k, 0.8) for k, s in enumerate(SEEDS)},
            "X": {s: run(0.82 + 0.01 * k, 0.82) for k, s in enumerate(SEEDS)},
            "Y": {s: run(0.79 + 0.005 * k, 0.8) for k, s in enumerate(SEEDS)}}
    evidence = Evidence.of(runs, "val_f1")
    contrast = evidence.contrast("X", "base")
    assert "image sampling (paired bootstrap)" in contrast.parts
    seeds_only = Evidence.of({row: {s: Run(r.value) for s, r in by.items()} for row, by in runs.items()}, "val_f1")
    assert contrast.se > seeds_only.contrast("X", "base").se
    assert Evidence.of(runs, "val_f1").contrast("X", "base").se == contrast.se, "the bootstrap is seeded"
    draws = rng.integers(0, 200, (5, 200))
    from sklearn.metrics import f1_score

    expected = [f1_score(target[d], target[d][::-1], average="macro", labels=[0, 1, 2], zero_division=0)
                for d in draws]
    assert macro_f1(target[draws], np.stack([target[d][::-1] for d in draws]), 3) == pytest.approx(expected)


def test_runs_on_different_splits_are_corrected_for_overlapping_training_sets():
    runs = {"base": {s: Run(0.8 + 0.01 * k, f"split-{k}") for k, s in enumerate(SEEDS)},
            "X": {s: Run(0.83 + 0.012 * k, f"split-{k}") for k, s in enumerate(SEEDS)}}
    plain = Evidence.of({row: {s: Run(r.value) for s, r in by.items()} for row, by in runs.items()}, "val_f1")
    corrected = Evidence.of(runs, "val_f1", held_out=0.25)
    # Nadeau and Bengio: the variance of a mean over n splits, 1/n + n_val/n_train instead of 1/n
    assert corrected.contrast("X", "base").se ** 2 == pytest.approx(
        plain.contrast("X", "base").se ** 2 * (1 + 3 * 0.25))
    assert any("Nadeau-Bengio" in part for part in corrected.contrast("X", "base").parts)


def test_efficacy_boundaries_are_fixed_from_the_looks_planned_and_sum_to_alpha():
    assert efficacy_boundaries(0.05, 3, "haybittle_peto") == pytest.approx([0.001, 0.001, 0.048])
    late = efficacy_boundaries(0.05, 3, "obrien_fleming")
    even = efficacy_boundaries(0.05, 3, "pocock")
    assert late == pytest.approx([0.00069, 0.01569, 0.03363], abs=1e-5)
    assert even == pytest.approx([0.02264, 0.01553, 0.01183], abs=1e-5)
    assert sum(late) == pytest.approx(0.05) and sum(even) == pytest.approx(0.05)
    assert efficacy_boundaries(0.05, 3, None) == [0.05] * 3 and efficacy_boundaries(0.05, 1, "pocock") == [0.05]


def test_the_last_look_adds_what_earlier_looks_spent_and_a_recorded_win_brings_its_stagewise_p():
    base = candidate("AdamW", [0.80, 0.81, 0.80], is_base=True)
    better = candidate("SGD", [0.83, 0.83, 0.84])
    once = compare(evidence_of([base, better], "val_f1"), [base, better], True, 0.05)["SGD"]
    looked = compare(evidence_of([base, better], "val_f1"), [base, better], True, 0.05,
                     efficacy_boundaries(0.05, 3, "haybittle_peto"))["SGD"]
    assert looked.p_comparison == pytest.approx(once.p_comparison + 0.002)
    won = candidate("Focal", [0.9], won="won after 1 of 3 replicates: better than ...", stagewise=0.0004,
                    stopped="efficacy")
    verdict = verdict_of([candidate("CE", [0.8, 0.81, 0.79], is_base=True), won])
    assert verdict.winner == "Focal" and verdict.against_base["Focal"].p_comparison == 0.0004
    assert verdict.reason.endswith("; won after 1 of 3 replicates: better than ...")


def test_predictive_power_is_what_simulating_the_remaining_replicates_gives():
    base = candidate("base", [0.800, 0.800, 0.801], is_base=True)
    close = candidate("close", [0.801, 0.799, 0.800])
    contrast = evidence_of([base, close], "val_f1").contrast("close", "base")
    # simulated: the true difference from what 3 replicates say, 7 more replicates, the final estimate against the
    # two-sided critical value at 10 replicates
    rng, planned = np.random.default_rng(1), 10
    truth = rng.normal(contrast.estimate, contrast.se, 40000)
    later = rng.normal(truth, contrast.se * np.sqrt(3 / 7))
    final = (3 * contrast.estimate + 7 * later) / planned
    critical = student.isf(0.025, contrast.df) * contrast.se * np.sqrt(3 / planned)
    assert predictive_power(contrast, 3, planned, 0.05) == pytest.approx(np.mean(np.abs(final) > critical), abs=0.01)
    clear = evidence_of([base, candidate("clear", [0.85, 0.86, 0.855])], "val_f1").contrast("clear", "base")
    assert predictive_power(clear, 3, 5, 0.05) > 0.95


def test_what_would_decide_counts_the_replicates_that_find_the_difference_seen():
    base = candidate("AdamW", [0.80, 0.82, 0.78], is_base=True)
    verdict = verdict_of([base, candidate("SGD", [0.83, 0.82, 0.81])])
    test = verdict.undecided
    way = what_would_decide(test, 0.05)
    needed = int(way.split("about ")[1].split(" seeds")[0])
    assert needed == int(np.ceil(3 * (test.detectable / test.difference) ** 2)) and needed > 3
    tiny = verdict_of([base, candidate("Same", [0.8004, 0.8198, 0.7801])]).undecided
    assert "too small for more seeds to decide" in what_would_decide(tiny, 0.05)


def test_a_tiny_difference_is_shown_as_one_not_as_none_in_fixed_decimals():
    assert (signed(0.0012), signed(3.2e-5), signed(-4e-6), signed(8.7e-6), signed(0.0), signed(-0.25)) == (
        "+0.0012", "+0.000032", "-0.0000040", "+0.0000087", "0", "-0.2500"), "never an exponent: +8.7e-06"
    base = candidate("CrossEntropy", [0.97, 0.98, 0.99], is_base=True)
    focal = candidate("Focal", [0.97, 0.98, 0.99 + 9e-5])
    assert "Focal has the best mean, +0.000030, but is within noise of the base" in verdict_of([base, focal]).reason


def test_the_runner_up_is_said_to_be_behind_or_within_noise():
    base = candidate("base", [0.70, 0.71, 0.69], is_base=True)
    verdict = verdict_of([base, candidate("A", [0.90, 0.91, 0.92]), candidate("B", [0.80, 0.80, 0.83])])
    assert any(note.startswith("ahead of the runner-up B by +0.1000 (two-sided p=") for note in verdict.notes)
    verdict = verdict_of([base, candidate("A", [0.80, 0.82, 0.81]), candidate("B", [0.80, 0.81, 0.815])])
    assert verdict.winner == "A" and any(note.startswith("within noise of the runner-up B") for note in verdict.notes)


def test_error_bars_stay_within_the_metrics_range():
    assert error_bar(0.99, 0.05, "val_f1") == [[pytest.approx(0.05)], [pytest.approx(0.01)]]
    assert error_bar(0.02, 0.05, "val_loss") == [[pytest.approx(0.02)], [pytest.approx(0.05)]]
    assert error_bar(0.5, None, "val_acc") == [[0.0], [0.0]]
    assert error_bar(2.5, 0.5, "return_value") == [[0.5], [0.5]], "another app's value has no known range"


@pytest.mark.parametrize("df", [1.0, 2.0, 30.0])
def test_dunnetts_critical_value_is_found_with_the_few_degrees_of_freedom_racing_leaves(df):
    """Three options on one seed each against a base of two leave one degree of freedom: the critical value lies far
    beyond one option's (it was searched for within 4 of it, and a sweep's report failed)."""
    from hpsweep.decide.many_to_one import _max_sf, critical_value

    correlation = np.full((3, 3), 0.5)
    critical = critical_value(3, correlation, df, 0.05)
    assert critical > student.isf(0.05, df)
    shape = correlation.copy()
    np.fill_diagonal(shape, 1.0)
    assert _max_sf(critical, shape, df) == pytest.approx(0.05, abs=0.003)
