"""Pruning across a category: the options of a model's category compete in one Optuna study in the sweep dir;
one clearly behind the others stops early, one close to them never does, the base never does."""

import json
import shutil

import optuna
import pytest
from conftest import CONF_DIR, sweep_counts
from test_sweeps import results, run_sweep

from hpsweep.cli import main
from hpsweep.core.records import read_history
from hpsweep.decide.answers import answer
from hpsweep.decide.results import load
from hpsweep.sweep.settings import Pruning
from hpsweep.sweep.studies import Competition, MedianOfOthersPruner, replay, study_names

TINY = ["model=test_resnet", "data.image_size=16"]


def entry(option, is_base=False, replicate=None):
    rows = [{"category": "optimizer", "option": option, "stage": 0}]
    return {"model": "m", "is_base": is_base, "replicate": replicate or {}, "setting": [], "rows": rows,
            "directory": option}


def test_an_option_far_behind_the_others_is_pruned_after_the_warmup_and_a_close_one_never():
    study = optuna.create_study(direction="maximize", pruner=MedianOfOthersPruner(warmup=2, margin=0.1, max_epochs=5))
    curves = {"AdamW": [0.5, 0.8, 0.9, 0.95, 0.96], "SGD": [0.3, 0.6, 0.85, 0.9, 0.9],  # a slow start, caught up
              "Hopeless": [0.1, 0.1, 0.11, 0.1, 0.1]}
    trials = {}
    for option in curves:
        trials[option] = study.ask()
        trials[option].set_user_attr("option", option)
    pruned_at = {}
    for epoch in range(1, 6):
        for option, curve in curves.items():
            trials[option].report(curve[epoch - 1], epoch)
            if option not in pruned_at and trials[option].should_prune():
                pruned_at[option] = epoch
    assert pruned_at == {"Hopeless": 3}, "behind at epochs 2 and 3; SGD's gap at epoch 2 closed by epoch 3"


@pytest.mark.parametrize("deficit, observations, pruned", [
    (0.2, 270, True),     # far beyond the noise of 270 images (about 0.03 at F1 0.95)
    (0.02, 270, False),   # within it
    (0.1, 41, False),     # 41 images cannot tell 0.1 at F1 0.9 apart (about 0.1)
    (0.1, 2000, True),    # 2,000 can
], ids=["far-270", "close-270", "41-images", "2000-images"])
def test_the_margin_is_the_noise_of_the_validation_set(deficit, observations, pruned):
    curves = {"base": [0.95] * 6, "option": [0.95 - deficit] * 6}
    found = replay(curves, Pruning("median", warmup=0.3), max_epochs=6, observations=observations, base="base")
    assert ("option" in found) is pruned


def test_a_metric_that_is_no_rate_is_pruned_only_with_a_fixed_margin():
    curves = {"base": [0.1] * 6, "option": [5.0] * 6}  # val_loss, lower is better
    assert replay(curves, Pruning("median"), 6, 270, base="base", direction="min") == {}
    assert replay(curves, Pruning("median", margin=1.0), 6, 270, base="base", direction="min") == {"option": 3}


def test_competitions_in_one_journal_see_each_other_and_the_base_is_never_pruned(tmp_path):
    pruning = Pruning("median", warmup=0.25, margin=0.1)
    base = Competition(tmp_path, entry("AdamW", is_base=True), "f-base", pruning, "val_f1", "max", max_epochs=8)
    losing_base = Competition(tmp_path, entry("AdamW", is_base=True, replicate={"seed": "2"}), "f-base2", pruning,
                              "val_f1", "max", max_epochs=8)
    hopeless = Competition(tmp_path, entry("Hopeless"), "f-hopeless", pruning, "val_f1", "max", max_epochs=8)
    assert base.report(1, 0.9) is None and hopeless.report(1, 0.1) is None, "the warm-up"
    assert base.report(2, 0.95) is None and hopeless.report(2, 0.1) is None, "behind once: patience"
    assert base.report(3, 0.96) is None
    decision = hopeless.report(3, 0.1)  # its own process in a sweep: here, another object on the same journal
    assert decision["epoch"] == 3 and decision["others"] == {"AdamW (base)": 0.96}
    assert "more than 0.1000 behind the median 0.9600 of the other options (AdamW (base) 0.9600)" in decision["reason"]
    for epoch in (1, 2, 3):
        assert losing_base.report(epoch, 0.0) is None, "another replicate is another study; the base is never pruned"
    hopeless.finish(None, "pruned")
    resumed = Competition(tmp_path, entry("AdamW", is_base=True), "f-base", pruning, "val_f1", "max", max_epochs=8)
    assert resumed.trials[0][1].number == base.trials[0][1].number, "a resumed job goes on in its own trial"
    assert (tmp_path / "optuna.journal").is_file()


def test_the_base_competes_in_every_category_it_answers():
    rows = [{"category": None, "option": "base", "stage": 0}, {"category": "optimizer", "option": "AdamW", "stage": 0},
            {"category": "loss_function", "option": "CrossEntropy", "stage": 0}]
    names = study_names({"model": "m", "is_base": True, "replicate": {"seed": "1"}, "setting": [], "rows": rows})
    assert names == [("m/optimizer/stage0//seed=1", "AdamW (base)"), ("m/loss_function/stage0//seed=1",
                                                                       "CrossEntropy (base)")]


@pytest.fixture
def hopeless_option(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "optimizer" / "Hopeless.yaml").write_text(
        "# @package _global_\noptimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 1.0e-9\n"
        "run_name_parts:\n  optimizer: opt_Hopeless\n")
    return conf


@pytest.mark.slow
def test_a_hopeless_option_is_pruned_before_half_its_budget_and_stays_pruned_until_pruning_is_off(
        tmp_path, hopeless_option, capsys):
    sweep_dir = tmp_path / "sweep"
    arguments = [*TINY, "category=optimizer", "trainer.max_epochs=8", "hydra.sweeper.pruner=median"]
    finished = run_sweep(sweep_dir, *arguments, config_dir=hopeless_option)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert sweep_counts(finished.stdout) == {"trainings": 3, "completed": 2, "pruned": 1}
    hopeless = results(sweep_dir)["test_resnet/optimizer/Hopeless"]
    assert hopeless["status"] == "pruned" and hopeless["pruned"]["epoch"] <= 4 and hopeless["epochs_run"] <= 4
    assert "behind the median" in hopeless["pruned"]["reason"] and hopeless["pruned"]["others"]
    assert all(result["status"] == "completed" and result["epochs_run"] == 8
               for name, result in results(sweep_dir).items() if name != "test_resnet/optimizer/Hopeless")
    report = tmp_path / "pruned.json"
    assert main(["summary", str(sweep_dir), "--json", str(report), "--no-plots"]) == 0
    pruned_winner = next(row["option"] for row in json.loads(report.read_text()) if row["best"])

    again = run_sweep(sweep_dir, *arguments, config_dir=hopeless_option)
    assert sweep_counts(again.stdout) == {"trainings": 3, "completed earlier": 3}, "a pruned job stays pruned"
    finish = run_sweep(sweep_dir, *arguments[:-1], "hydra.sweeper.pruner=none", config_dir=hopeless_option)
    assert sweep_counts(finish.stdout) == {"trainings": 3, "completed": 1, "completed earlier": 2}
    finished_hopeless = results(sweep_dir)["test_resnet/optimizer/Hopeless"]
    assert finished_hopeless["status"] == "completed" and finished_hopeless["epochs_run"] == 8
    assert finished_hopeless["resumed_from_epoch"] == hopeless["epochs_run"], "it went on from its checkpoint"
    assert main(["summary", str(sweep_dir), "--json", str(report), "--no-plots"]) == 0
    assert next(row["option"] for row in json.loads(report.read_text()) if row["best"]) == pruned_winner


@pytest.mark.slow
def test_on_real_histories_the_broken_option_is_pruned_early_and_no_option_within_noise_of_the_winner_ever(
        tmp_path, hopeless_option):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *TINY, "category=optimizer,loss_function", "trainer.max_epochs=6",
                         "hydra.sweeper.pruner=none", config_dir=hopeless_option)
    assert finished.returncode == 0, finished.stderr[-3000:]
    checked = 0
    for group in answer(load([sweep_dir])):
        for category in group.categories:
            rows = {row.option: row for row in category.rows}
            curves = {option: [epoch["val_f1"] for epoch in read_history(row.trainings[0].history_path)]
                      for option, row in rows.items()}
            observations = rows[category.verdict.top].trainings[0].record["setup"]["val_images"]
            base = next(option for option, row in rows.items() if row.is_base)
            pruned = replay(curves, Pruning("median"), 6, observations, base=base)
            winner = rows[category.verdict.top]
            for option, row in rows.items():
                p_value = mcnemar(row, winner)
                if option != category.verdict.top and p_value >= 0.05:
                    assert option not in pruned, f"{option} ends within noise of {category.verdict.top}: p={p_value}"
                    checked += 1
            if category.category == "optimizer":
                assert pruned.get("Hopeless", 99) <= 3, "the broken option, by half its budget"
    assert checked >= 1, "some option ended within noise of its winner"


def mcnemar(row, other) -> float:
    """McNemar's exact test of one run each on the validation images each got right: the noise of one training's
    validation, which pruning's margin is about."""
    from scipy.stats import binomtest

    (_, target, mine), (_, _, theirs) = row.trainings[0].labels("val_f1"), other.trainings[0].labels("val_f1")
    only_mine, only_theirs = int(((mine == target) & (theirs != target)).sum()), int(((theirs == target) &
                                                                                       (mine != target)).sum())
    return binomtest(only_mine, only_mine + only_theirs, 0.5).pvalue if only_mine + only_theirs else 1.0


@pytest.mark.slow
def test_options_prune_each_other_across_processes_of_the_local_launcher(tmp_path, hopeless_option):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *TINY, "category=optimizer", "trainer.max_epochs=8", "hydra.sweeper.pruner=median",
                         "hydra/launcher=local", "hydra.sweeper.max_batch_size=2", "hydra.launcher.timeout_min=10",
                         config_dir=hopeless_option)
    assert finished.returncode == 0, finished.stderr[-3000:]
    found = results(sweep_dir)
    hopeless = found.pop("test_resnet/optimizer/Hopeless")
    # pruned on the values of the base training beside it, in another process (which may lag it an epoch)
    assert hopeless["status"] == "pruned" and hopeless["pruned"]["epoch"] < 8
    assert "AdamW (base)" in hopeless["pruned"]["others"]
    assert all(result["status"] == "completed" for result in found.values())
    assert len(list((sweep_dir / ".submitit").glob("*/*_result.pkl"))) == 3, "one process per job"
