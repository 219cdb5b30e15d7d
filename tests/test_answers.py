"""Real sweeps read as answers: replicates aggregated, the base trained once, greedy stages that carry their
winners, and a combination verified against the base."""

import json
import shutil
import statistics

import pytest
import yaml
from conftest import CONF_DIR, flat, sweep_counts
from test_sweeps import results, run_sweep
from wandb_records import read_run

from hpsweep.cli import main

pytestmark = pytest.mark.slow
TINY = ["model=test_resnet", "data.image_size=16"]


@pytest.fixture
def hopeless_base(tmp_path):
    """The project's config with a base optimizer that learns nothing (lr 1e-9): every other optimizer, and a
    scheduler that sets its own learning rate (OneCycleLR), clearly win."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "optimizer" / "Hopeless.yaml").write_text(
        "# @package _global_\noptimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 1.0e-9\n"
        "run_name_parts:\n  optimizer: opt_Hopeless\n")
    config = (conf / "config.yaml").read_text().replace("  - optimizer: AdamW", "  - optimizer: Hopeless")
    (conf / "config.yaml").write_text(config)
    return conf


def test_seeds_are_replicates_and_the_base_is_trained_once_for_every_row_it_answers(tmp_path):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *TINY, "category=optimizer,loss_function", "seed=1,2,3", "trainer.max_epochs=1",
                         "hydra.sweeper.racing=false", "scheduler.lr_scheduler.T_max=25")
    assert finished.returncode == 0, finished.stderr[-3000:]
    output = flat(finished.stdout + finished.stderr)
    assert "5 rows, 12 trainings" in output, "the rows hpsweep matrix counts: each category's options"
    # a cosine period fixed at 25 is not 1 epoch: said once for the sweep, with the fix, not once per job
    assert output.count("the cosine schedule (scheduler.lr_scheduler.T_max=25) is longer") == 1
    assert "trainings 0-11 (12 trainings): the cosine schedule" in output
    assert "T_max=null to follow the run's length" in output
    found = results(sweep_dir)
    assert len(found) == 3 * (1 + 1 + 2), "per seed: the base, SGD, Focal, LabelSmoothing"
    assert "optimizer/AdamW" not in " ".join(found) and "loss_function/CrossEntropy" not in " ".join(found)
    base = [found[f"test_resnet/base/seed-{seed}"] for seed in (1, 2, 3)]
    assert [result["replicate"] for result in base] == [{"seed": str(seed)} for seed in (1, 2, 3)]
    assert {("optimizer", "AdamW"), ("loss_function", "CrossEntropy")} <= {
        (row["category"], row["option"]) for row in base[0]["rows"]}
    tags = read_run(sweep_dir / "test_resnet/base/seed-1")["tags"]
    assert {"optimizer", "AdamW", "loss_function", "CrossEntropy", "seed=1"} <= set(tags)

    report = tmp_path / "summary.json"
    assert main(["summary", str(sweep_dir), "--json", str(report), "--no-plots"]) == 0
    rows = {(row["category"], row["option"]): row for row in json.loads(report.read_text())}
    base_values = [result["metrics"]["val_f1"] for result in base]
    for key in (("optimizer", "AdamW"), ("loss_function", "CrossEntropy")):
        assert rows[key]["n"] == 3 and rows[key]["values"] == base_values, "one base, shown in both rows"
    sgd = [found[f"test_resnet/optimizer/SGD/seed-{seed}"]["metrics"]["val_f1"] for seed in (1, 2, 3)]
    assert rows[("optimizer", "SGD")]["mean"] == pytest.approx(statistics.mean(sgd))
    assert rows[("optimizer", "SGD")]["std"] == pytest.approx(statistics.stdev(sgd))
    assert sum(row["best"] for row in rows.values()) == 2, "one choice per category"


def test_greedy_stages_carry_each_winner_into_the_next_stage_and_resume_from_their_decisions(tmp_path,
                                                                                          hopeless_base):
    sweep_dir = tmp_path / "sweep"
    arguments = [*TINY, "category=optimizer,loss_function", "hydra.sweeper.strategy=greedy", "trainer.max_epochs=2"]
    # one seed: each stage's base trains 2 control seeds, what each option's one run is tested against
    finished = run_sweep(sweep_dir, *arguments, config_dir=hopeless_base, control_seeds=2)
    assert finished.returncode == 0, finished.stderr[-3000:]
    decisions = json.loads((sweep_dir / "decisions.json").read_text())["stages"]
    assert [stage["category"] for stage in decisions] == ["optimizer", "loss_function"]
    winner = decisions[0]["decisions"][0]
    assert winner["winner"] in ("AdamW", "SGD") and not winner["kept_base"], winner["reason"]
    assert winner["overrides"] == [f"optimizer={winner['winner']}"]
    for option in ("Focal", "LabelSmoothing"):  # stage 2 composed stage 1's winner
        composed = yaml.safe_load((sweep_dir / f"test_resnet/loss_function/{option}/.hydra/config.yaml").read_text())
        assert composed["optimizer"]["opt"] == winner["winner"].lower()
    assert len(results(sweep_dir)) == (3 + 2) + (2 + 2), \
        "stage 2's base is the training that won stage 1 (its 2 control seeds are new)"

    again = run_sweep(sweep_dir, *arguments, config_dir=hopeless_base, control_seeds=2)
    assert again.returncode == 0 and sweep_counts(again.stdout) == {"trainings": 9, "completed earlier": 9}
    (sweep_dir / "test_resnet/loss_function/Focal/result.json").unlink()  # as if killed in stage 2
    resumed = run_sweep(sweep_dir, *arguments, config_dir=hopeless_base, control_seeds=2)
    assert resumed.returncode == 0
    assert "stage 1 (optimizer) was decided in an earlier run of this sweep" in flat(resumed.stdout)
    assert sweep_counts(resumed.stdout) == {"trainings": 9, "completed": 1, "completed earlier": 8}


def test_verify_trains_the_combined_winners_and_compares_them_with_the_base(tmp_path, hopeless_base, capsys):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *TINY, "category=optimizer,scheduler", "trainer.max_epochs=2",
                         config_dir=hopeless_base, control_seeds=2)  # one seed: tested against the base's 3
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert main(["best", str(sweep_dir), "--verify"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    experiment = (sweep_dir / "best/experiment/best_test_resnet.yaml").read_text()
    assert "override /scheduler: OneCycleLR" in experiment
    report = json.loads((sweep_dir / "best/verify_best_test_resnet.json").read_text())
    assert report["trust"] is True and report["trained"].startswith("trained now in")
    assert report["combination"]["n"] == 1 and report["base"]["n"] == 3, "the base with its control seeds"
    assert report["combination"]["mean"] > report["base"]["mean"]
    combination = results(sweep_dir / "verify" / "best_test_resnet")
    assert len(combination) == 1
    (run,) = combination.values()
    assert run["choices"]["scheduler"] == "OneCycleLR" and run["choices"]["optimizer"] in ("AdamW", "SGD")
    assert "trust it: the combination beats the base" in out
