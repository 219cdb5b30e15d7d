"""Shared trajectories: options that differ only in when they stop are answered by one training, exactly as
they would have trained alone."""

import json
import os
from pathlib import Path

import pytest
from conftest import ROOT, compose, flat, run_experiments
from omegaconf import OmegaConf
from test_sweeps import results, run_sweep
from wandb_records import read_run

from hpsweep.cli import main
from hpsweep.core.fingerprints import fingerprint
from hpsweep.sweep.trajectories import trajectory_key

# long enough for patience 5 and 10 to stop early (the base's best is at epoch 13 on this split), patience 20 not
LONG = ["data.image_size=16", "trainer.max_epochs=25"]


@pytest.mark.parametrize("option, shares", [
    ("early_stopping=patience5", True), ("early_stopping=patience20", True), ("early_stopping.min_delta=0.01", True),
    ("early_stopping.monitor=val_loss", False), ("optimizer=SGD", False), ("seed=2", False),
], ids=["patience5", "patience20", "min_delta", "monitor", "optimizer", "seed"])
def test_only_when_a_training_stops_leaves_its_trajectory_the_same(option, shares):
    assert (trajectory_key(compose(option)) == trajectory_key(compose())) is shares


def test_the_matrix_says_which_rows_share_the_base_trajectory(capsys):
    assert main(["matrix", "model=test_resnet", "category=early_stopping,optimizer"]) == 0
    out = capsys.readouterr().out
    assert out.count("base's trajectory") == 2 + 1, "patience5, patience20, and the closing line"
    assert "2 of them share the base's trajectory" in out


@pytest.mark.slow
def test_the_early_stopping_category_trains_once_and_answers_each_patience_as_a_run_of_its_own(tmp_path):
    sweep_dir = tmp_path / "sweep"
    named = Path(os.path.relpath(sweep_dir, ROOT))  # relative to where it runs, as the docs name theirs
    finished = run_sweep(named, "category=early_stopping", *LONG)
    assert finished.returncode == 0, finished.stderr[-3000:]
    found = results(sweep_dir)
    assert sorted(found) == ["test_resnet/base", "test_resnet/early_stopping/patience20",
                             "test_resnet/early_stopping/patience5"]
    trained = sorted(str(path.parent.relative_to(sweep_dir)) for path in sweep_dir.glob("**/run_experiments.log"))
    assert trained == ["test_resnet/base"], "one training process: the base, continued for patience 20"
    for option in ("patience5", "patience20"):
        answered = found[f"test_resnet/early_stopping/{option}"]
        assert answered["answered_by"] == "test_resnet/base" and answered["status"] == "completed"
        run = read_run(sweep_dir / f"test_resnet/early_stopping/{option}")
        assert run["name"].startswith(f"es_{option}_") and len(run["history"]) == answered["epochs_run"], \
            "its W&B run holds its own history, up to its own stop"
        own_config = OmegaConf.load(sweep_dir / f"test_resnet/early_stopping/{option}/.hydra/config.yaml")
        assert fingerprint(own_config) == answered["fingerprint"], "its .hydra/config.yaml is its own config"
        alone = tmp_path / option
        single = run_experiments(alone, f"early_stopping={option}", *LONG)
        assert single.returncode == 0, single.stderr[-3000:]
        expected = json.loads((alone / "result.json").read_text())
        for key in ("metrics", "epochs_run", "stopped_early"):
            assert answered[key] == expected[key], f"{option}: {key} as a standalone run"
        assert (alone / "val_probabilities.csv").read_bytes() == \
            (sweep_dir / f"test_resnet/early_stopping/{option}/val_probabilities.csv").read_bytes()
    base = found["test_resnet/base"]
    assert found["test_resnet/early_stopping/patience5"]["epochs_run"] < base["epochs_run"] < \
        found["test_resnet/early_stopping/patience20"]["epochs_run"], "the base stops between the two"
    assert len(read_run(sweep_dir / "test_resnet/base")["history"]) == base["epochs_run"]

    again = run_sweep(named, "category=early_stopping", *LONG)
    assert again.returncode == 0 and "nothing to run" in flat(again.stderr + again.stdout)


def test_a_resumed_carrier_goes_on_only_with_the_rules_its_checkpoint_followed(tmp_path):
    from hpsweep.train.early_stopping import EarlyStopping
    from hpsweep.train.loop import resumed_rules

    followed, missed = tmp_path / "patience5", tmp_path / "patience20"
    saved = EarlyStopping("val_f1", "max", 5).state_dict() | {"epochs_seen": 4, "best_epoch": 2, "best_value": 0.9}
    rules = {followed: EarlyStopping("val_f1", "max", 5), missed: EarlyStopping("val_f1", "max", 20)}
    kept = resumed_rules(rules, {str(followed): saved})
    assert list(kept) == [followed], "a rule the checkpoint did not follow missed its first epochs: not answered"
    assert (kept[followed].epochs_seen, kept[followed].best_epoch) == (4, 2)
