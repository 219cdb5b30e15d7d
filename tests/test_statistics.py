"""The rule that decides a category, from tables of replicate values (see hpsweep.report.statistics)."""

import pytest
from scipy.stats import binomtest, ttest_rel

from hpsweep.report.statistics import Aggregate, Candidate, decide, paired_test

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
