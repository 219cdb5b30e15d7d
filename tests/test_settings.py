"""The sweep's settings: every knob checked in one place, each problem naming the knob and what is valid."""

import pytest

from hpsweep.sweep.settings import SweepSettings


def test_the_defaults_run():
    assert SweepSettings().problems() == []


@pytest.mark.parametrize(("knob", "value", "said"), [
    pytest.param("strategy", "greedyy", "hydra.sweeper.strategy='greedyy': expected one of union, greedy",
                 id="strategy"),
    pytest.param("direction", "up", "hydra.sweeper.direction='up': expected one of max, min", id="direction"),
    pytest.param("alpha", 5, "hydra.sweeper.alpha=5: expected a probability between 0 and 1", id="alpha"),
    pytest.param("pruner", "mean", "hydra.sweeper.pruner='mean': expected one of", id="pruner"),
    pytest.param("prune_warmup", 2.0, "hydra.sweeper.prune_warmup=2.0: expected a fraction from 0 to 1", id="warmup"),
    pytest.param("race_from", 0, "hydra.sweeper.race_from=0: expected an integer >= 1", id="race_from"),
    pytest.param("efficacy", "bonferroni", "hydra.sweeper.efficacy='bonferroni': expected one of haybittle_peto, "
                 "obrien_fleming, pocock", id="efficacy"),
    pytest.param("multiplicity", "bonferroni", "hydra.sweeper.multiplicity='bonferroni': expected one of bh, holm, "
                 "none", id="multiplicity"),
    pytest.param("fdr", 1.5, "hydra.sweeper.fdr=1.5: expected a rate between 0 and 1", id="fdr"),
    pytest.param("control_seeds", -1, "hydra.sweeper.control_seeds=-1: expected an integer >= 0", id="control_seeds"),
    pytest.param("n_trials", 0, "hydra.sweeper.n_trials=0: expected an integer >= 1", id="n_trials"),
    pytest.param("sampler", "grid", "hydra.sweeper.sampler='grid': expected one of tpe, random", id="sampler"),
    pytest.param("max_batch_size", 0, "hydra.sweeper.max_batch_size=0: expected an integer >= 1, or null",
                 id="max_batch_size"),
    pytest.param("jobs_per_gpu", True, "hydra.sweeper.jobs_per_gpu=True: expected an integer >= 1", id="jobs_per_gpu"),
    pytest.param("rerun", "all", "hydra.sweeper.rerun='all': expected one of none, stale_code", id="rerun"),
])
def test_a_knob_that_cannot_run_is_named_with_what_is_valid(knob, value, said):
    [problem] = SweepSettings(**{knob: value}).problems()
    assert problem.startswith(said), problem


def test_every_problem_is_said_at_once_and_pruning_off_is_not_checked():
    assert len(SweepSettings(strategy="x", rerun="y", race_from=-1).problems()) == 3
    assert SweepSettings(pruner="none", prune_warmup=7).problems() == [], "its knobs do nothing then"
