"""A small run of benchmarks/verdicts.py: simulated trainings (seed luck as large as the image sampling, macro F1
on 300 shared validation images) decided by hpsweep's own statistics. Each rate is held to a binomial bound, so
a test fails only where the promise is broken, not on one unlucky draw (each bound is exceeded with probability
about 0.001 where the promise holds)."""

import importlib.util

import numpy as np
import pytest
from conftest import ROOT
from scipy.stats import binom


@pytest.fixture(scope="module")
def simulation():
    spec = importlib.util.spec_from_file_location("verdicts", ROOT / "benchmarks" / "verdicts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_false_wins_stay_within_alpha_and_a_large_effect_is_found(simulation):
    world = simulation.World(np.random.default_rng(11), noise=1.0)
    null = [simulation.comparison_winner(world, [0.0] * 4, 3, "fixed") for _ in range(60)]
    assert sum(winner is not None for winner in null) <= binom.ppf(0.999, 60, 0.05), "false wins above alpha"
    found = [simulation.comparison_winner(world, [simulation.EFFECT, 0.0, 0.0, 0.0], 3, "fixed") for _ in range(40)]
    assert sum(winner == "o0" for winner in found) >= binom.ppf(0.001, 40, 0.8), "power below 80% at 3 sd"
    assert not any(winner not in (None, "o0") for winner in found), "an option equal to the base won"


def test_one_seed_against_the_bases_control_seeds_keeps_false_wins_within_alpha(simulation):
    world = simulation.World(np.random.default_rng(12), noise=1.0)
    null = [simulation.comparison_winner(world, [0.0] * 4, 1, "fixed") for _ in range(40)]
    assert sum(winner is not None for winner in null) <= binom.ppf(0.999, 40, 0.05)


def test_a_sweep_with_nothing_better_than_the_base_rarely_names_any_winner(simulation):
    """24 comparisons sharing one base per model, corrected together (Benjamini-Hochberg): where no option is
    better, the chance that a sweep names any winner is at most the rate."""
    worlds = {model: simulation.World(np.random.default_rng(20 + model), noise=1.0) for model in range(4)}
    sweeps = [simulation.sweep_wins(worlds.get, {}, 3, "fixed", "bh") for _ in range(5)]
    assert sum(false > 0 for _, false in sweeps) <= binom.ppf(0.999, 5, 0.05)
