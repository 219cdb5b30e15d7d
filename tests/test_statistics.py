"""The rule that decides a category, from tables of replicate values (see hpsweep.report.statistics)."""

import pytest
from scipy.stats import binomtest, ttest_rel

from hpsweep.report.plots import error_bar
from hpsweep.report.statistics import (
    Aggregate,
    Candidate,
    decide,
    difference_interval,
    efficacy_boundaries,
    mcnemar_detectable,
    paired_test,
    predictive_power,
    signed,
    what_would_decide,
)

SEEDS = ("seed=1", "seed=2", "seed=3")


def candidate(option, values, is_base=False, complete=True, correct=None):
    return Candidate(option, dict(zip(SEEDS, values, strict=False)), complete, is_base,
                     correct=lambda replicate: correct)


def test_aggregates_are_the_mean_and_sample_std_of_the_replicates():
    aggregate = Aggregate((0.8, 0.9, 0.7))
    assert (aggregate.n, aggregate.min, aggregate.max) == (3, 0.7, 0.9)
    assert aggregate.mean == pytest.approx(0.8) and aggregate.std == pytest.approx(0.1)
    assert Aggregate((0.5,)).std is None, "no spread from one replicate"


def test_the_winner_is_chosen_by_mean_not_by_its_luckiest_replicate():
    lucky = candidate("Lucky", [0.95, 0.70, 0.71])  # the highest single value, a poor mean
    steady = candidate("Steady", [0.80, 0.80, 0.81])
    base = candidate("Base", [0.70, 0.70, 0.70], is_base=True)
    verdict = decide([base, lucky, steady], higher_is_better=True, alpha=0.05)
    assert verdict.winner == "Steady" and not verdict.kept_base
    expected = ttest_rel([0.80, 0.80, 0.81], [0.70, 0.70, 0.70]).pvalue
    assert verdict.against_base["Steady"].p_value == pytest.approx(expected)
    assert "better than the base by +0.1033 (paired t-test over 3 replicates" in verdict.reason


def test_a_winner_within_noise_of_the_base_keeps_the_base_and_says_so():
    base = candidate("AdamW", [0.80, 0.82, 0.78], is_base=True)
    close = candidate("SGD", [0.81, 0.80, 0.80])
    verdict = decide([base, close], higher_is_better=True, alpha=0.05)
    assert (verdict.winner, verdict.top, verdict.kept_base, verdict.within_noise) == ("AdamW", "SGD", True, True)
    assert "SGD has the best mean (+0.0033) but is within noise of the base" in verdict.reason
    assert "the base is kept" in verdict.reason


def test_ties_go_to_the_base_then_to_the_option_listed_first_and_are_said():
    verdict = decide([candidate("A", [0.8, 0.8, 0.8]), candidate("B", [0.8, 0.8, 0.8], is_base=True)], True, 0.05)
    assert verdict.winner == "B" and "tie at 0.8000 between B and A: the base option wins a tie" in verdict.notes
    verdict = decide([candidate("A", [0.9] * 3), candidate("C", [0.9] * 3), candidate("B", [0.5] * 3, is_base=True)],
                     True, 0.05)
    assert verdict.top == "A" and "the option listed first wins a tie" in verdict.notes[0]


def test_options_that_did_not_complete_every_replicate_do_not_compete():
    base = candidate("base", [0.5, 0.5, 0.5], is_base=True)
    broken = candidate("Diverge", [0.99], complete=False)  # one seed completed, two failed
    verdict = decide([base, broken], True, 0.05)
    assert verdict.winner == "base" and "Diverge: not all replicates completed" in verdict.notes[0]


def test_lower_is_better_for_a_loss():
    verdict = decide([candidate("base", [0.9, 0.8, 0.85], is_base=True), candidate("X", [0.3, 0.2, 0.25])],
                     higher_is_better=False, alpha=0.05)
    assert verdict.winner == "X"


def test_one_replicate_is_tested_on_the_images_each_got_right():
    images = [str(number) for number in range(100)]
    base_right = {image: number < 60 for number, image in enumerate(images)}
    better_right = {image: number < 80 for number, image in enumerate(images)}
    base = Candidate("base", {"": 0.6}, True, True, correct=lambda replicate: base_right)
    better = Candidate("X", {"": 0.8}, True, correct=lambda replicate: better_right)
    test = paired_test(better, base)
    assert test.p_value == pytest.approx(binomtest(20, 20, 0.5).pvalue)
    assert test.method == "McNemar on 100 images: 20 right only by X, 0 only by base"
    one_image = {image: number < 61 for number, image in enumerate(images)}
    close = Candidate("Y", {"": 0.61}, True, correct=lambda replicate: one_image)
    assert decide([base, close], True, 0.05).kept_base, "one image of difference is noise"


def test_without_replicates_or_predictions_the_best_mean_wins_untested():
    verdict = decide([Candidate("base", {"": 0.5}, True, True), Candidate("X", {"": 0.6}, True)], True, 0.05)
    assert verdict.winner == "X" and "untested: one replicate each and no per-image predictions" in verdict.reason


def test_a_winner_within_noise_of_the_runner_up_is_said():
    base = candidate("base", [0.5, 0.5, 0.5], is_base=True)
    verdict = decide([base, candidate("A", [0.80, 0.82, 0.81]), candidate("B", [0.80, 0.81, 0.815])], True, 0.05)
    assert verdict.winner == "A"
    assert any(note.startswith("within noise of the runner-up B") for note in verdict.notes)


def test_a_41_image_comparison_too_small_to_decide_says_undecided_and_what_it_could_detect():
    images = [f"img{number}" for number in range(41)]
    base_right = {image: number < 30 or number == 40 for number, image in enumerate(images)}  # 31 right
    option_right = {image: number < 32 for number, image in enumerate(images)}  # 32 right: +2, -1 (img40)
    base = candidate("base", [0.80], is_base=True, correct=base_right)
    option = candidate("light", [0.83], correct=option_right)
    verdict = decide([base, option], True, 0.05)
    assert (verdict.winner, verdict.kept_base) == ("base", True)
    test = verdict.undecided
    assert test is verdict.against_base["light"] and test.images == 41
    # 3 disagreements: any difference needs 6 images one way (p = 2 * 0.5**6 = 0.031 < 0.05; 5: 0.0625)
    assert test.detectable == pytest.approx(6 / 41)
    assert "+0.0300" in verdict.reason and "undecided with this validation, which could detect a difference of " \
        "0.146 (6 of 41 images right) or more" in verdict.reason
    way = what_would_decide(test, 0.05, "seeds", labelled=272, validated=41)
    folds = float(way.split("would detect about ")[1].split(";")[0])
    assert way.startswith("to decide it: cross-validating it (add fold to category=, 5 folds over all 272 labelled")
    assert 0.03 < folds < test.detectable, "five folds over all images detect smaller differences, not +0.03 yet"
    assert "5 seeds on the same 41 images about" in way


def test_detectable_differences_are_where_each_test_turns_significant():
    for disagreeing, images in ((0, 41), (20, 41), (40, 164), (100, 2000)):
        share = mcnemar_detectable(disagreeing, images, 0.05)
        more = round(share * images)
        pairs = max(disagreeing, more)
        assert binomtest((pairs + more + 1) // 2, pairs, 0.5).pvalue < 0.05
        fewer = max(disagreeing, more - 1)
        assert more == 1 or binomtest((fewer + more) // 2, fewer, 0.5).pvalue >= 0.05
    assert mcnemar_detectable(5, 5, 0.05) is None, "5 images cannot show anything at 0.05"
    base_values, sgd_values = [0.80, 0.82, 0.78], [0.81, 0.80, 0.80]
    test = paired_test(candidate("SGD", sgd_values), candidate("base", base_values, is_base=True))
    # the same spread of differences, shifted to a mean of exactly the detectable difference: p is alpha
    shifted = [b + (s - b) - test.difference + test.detectable for b, s in zip(base_values, sgd_values, strict=True)]
    edge = paired_test(candidate("X", shifted), candidate("base", base_values, is_base=True))
    assert edge.p_value == pytest.approx(0.05, rel=1e-6) and edge.detectable == pytest.approx(test.detectable)


def test_a_tiny_difference_is_shown_as_one_not_as_none():
    assert (signed(0.0012), signed(3.2e-5), signed(-4e-6), signed(0.0)) == ("+0.0012", "+3.2e-05", "-4.0e-06", "0")
    base = candidate("CrossEntropy", [0.97, 0.98, 0.99], is_base=True)
    focal = candidate("Focal", [0.97, 0.98, 0.99 + 9e-5])
    verdict = decide([base, focal], True, 0.05)
    assert "Focal has the best mean (+3.0e-05) but is within noise of the base" in verdict.reason


def test_a_runner_up_significantly_behind_the_winner_is_said():
    base = candidate("base", [0.70, 0.71, 0.69], is_base=True)
    winner = candidate("A", [0.90, 0.91, 0.92])
    runner_up = candidate("B", [0.80, 0.80, 0.83])
    verdict = decide([base, winner, runner_up], True, 0.05)
    [note] = verdict.notes
    assert note.startswith("significantly ahead of the runner-up B by +0.1000 (paired t-test over 3 replicates, p=")
    assert note.endswith("< 0.05)")


def test_error_bars_stay_within_the_metrics_range():
    assert error_bar(0.99, 0.05, "val_f1") == [[pytest.approx(0.05)], [pytest.approx(0.01)]]
    assert error_bar(0.02, 0.05, "val_loss") == [[pytest.approx(0.02)], [pytest.approx(0.05)]]
    assert error_bar(0.5, None, "val_acc") == [[0.0], [0.0]]
    assert error_bar(2.5, 0.5, "return_value") == [[0.5], [0.5]], "another app's value has no known range"


def _pooled(option, only_mine: int, only_theirs: int, images: int = 100, done: int = 1):
    """A candidate right on the first 80 images and ``only_mine`` more; its rival (``rival``) on the same 80 and
    ``only_theirs`` others, per replicate."""
    mine = {f"i{k}": k < 80 or 80 <= k < 80 + only_mine for k in range(images)}
    theirs = {f"i{k}": k < 80 or 80 + only_mine <= k < 80 + only_mine + only_theirs for k in range(images)}
    values = [sum(mine.values()) / images] * done, [sum(theirs.values()) / images] * done
    return candidate(option, values[0], correct=mine), candidate("rival", values[1], correct=theirs)


def test_predictive_power_is_what_simulating_the_remaining_replicates_gives():
    """McNemar's pooled test: draw the true split of disagreements from its posterior, the remaining replicates'
    disagreements from it, and test all of them as the race will."""
    import numpy as np

    rng = np.random.default_rng(0)
    for only_mine, only_theirs, expected in ((3, 3, "low"), (9, 1, "high"), (4, 1, None)):
        a, b = _pooled("a", only_mine, only_theirs)
        power = predictive_power(a, b, planned=3, alpha=0.05)
        more, significant = 2 * (only_mine + only_theirs), 0
        for split in rng.beta(only_mine + 0.5, only_theirs + 0.5, 4000):
            later = rng.binomial(more, split)
            mine, total = only_mine + later, only_mine + only_theirs + more
            significant += binomtest(mine, total, 0.5).pvalue < 0.05
        assert power == pytest.approx(significant / 4000, abs=0.03), (only_mine, only_theirs)
        assert expected is None or (power < 0.1 if expected == "low" else power > 0.8)
    a, b = _pooled("a", 9, 1, done=3)
    assert predictive_power(a, b, planned=3, alpha=0.05) == 1.0, "all replicates done: decided is certain"


def test_predictive_power_of_a_paired_t_test_and_the_equivalence_interval():
    import numpy as np
    from scipy.stats import t

    close = candidate("close", [0.801, 0.799, 0.800])
    base = candidate("base", [0.800, 0.800, 0.801], is_base=True)
    # simulated: the true mean difference from what 3 replicates say, 7 more replicates around it, the final mean
    # against the t-test's critical value at 10 with the observed spread
    rng, seen = np.random.default_rng(1), np.array([0.001, -0.001, -0.001])
    spread, planned = seen.std(ddof=1), 10
    truth = rng.normal(seen.mean(), spread / np.sqrt(3), 20000)
    final = (seen.sum() + rng.normal(7 * truth, spread * np.sqrt(7))) / planned
    simulated = np.mean(np.abs(final) > t.ppf(0.975, planned - 1) * spread / np.sqrt(planned))
    assert predictive_power(close, base, planned=10, alpha=0.05) == pytest.approx(simulated, abs=0.01)
    clear = candidate("clear", [0.85, 0.86, 0.855])
    assert predictive_power(clear, base, planned=5, alpha=0.05) > 0.95
    assert predictive_power(candidate("one", [0.9]), candidate("other", [0.8]), 3, 0.05) is None, \
        "one replicate and no predictions: no estimate (the row trains on)"
    low, high = difference_interval(close, base, 0.05)
    assert low < -0.0003 < 0 < high < 0.003
    assert difference_interval(candidate("one", [0.9]), base, 0.05) is None


def test_efficacy_boundaries_spend_alpha_over_the_looks_and_sum_to_it():
    """Lan-DeMets spending, each look given the increment: O'Brien-Fleming's type keeps almost all of alpha for the
    last look, Pocock's type spends evenly; either way the looks' levels sum to alpha (a Bonferroni bound)."""
    late = efficacy_boundaries(0.05, 3, "obrien_fleming")
    even = efficacy_boundaries(0.05, 3, "pocock")
    assert late == pytest.approx([0.00069, 0.01569, 0.03363], abs=1e-5)
    assert even == pytest.approx([0.02264, 0.01553, 0.01183], abs=1e-5)
    assert sum(late) == pytest.approx(0.05) and sum(even) == pytest.approx(0.05)
    assert efficacy_boundaries(0.05, 3, None) == [0.05] * 3 and efficacy_boundaries(0.05, 1, "pocock") == [0.05]


def test_a_race_that_looked_for_a_win_tests_the_last_look_at_what_is_left_and_takes_a_recorded_win():
    base = candidate("AdamW", [0.80, 0.80, 0.80], is_base=True)
    better = candidate("SGD", [0.845, 0.82, 0.83])  # paired t-test p between 0.0336 and 0.05
    assert 0.0337 < ttest_rel([0.845, 0.82, 0.83], [0.80, 0.80, 0.80]).pvalue < 0.05
    assert decide([base, better], True, 0.05).winner == "SGD", "one look at the end: at alpha"
    verdict = decide([base, better], True, 0.05, spending="obrien_fleming")
    assert verdict.kept_base and "p=0.0488 >= 0.0336, what the race's earlier looks left of alpha 0.05" in \
        verdict.reason
    won = Candidate("Focal", {"seed=1": 0.9}, True, won="won after 1 of 3 replicates: better than ...")
    verdict = decide([candidate("CE", [0.8, 0.95, 0.95], is_base=True), won], True, 0.05, "obrien_fleming")
    assert (verdict.winner, verdict.kept_base, verdict.reason) == ("Focal", False, won.won), \
        "a win the race recorded stands, whatever the means of replicates trained after it"
