"""Search inside a category: an option file's ``search:`` spaces, sampled by Optuna as ordinary jobs of the sweep."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import CONF_DIR, ROOT, flat
from test_sweeps import ENV, results, run_sweep, sweep_command

from hpsweep.cli import main
from hpsweep.core.trainings import value_text
from hpsweep.sweep.search import Space, bound_overrides, parse_spaces

TINY = ["model=test_resnet", "data.image_size=16", "trainer.max_epochs=2"]
SPACES = {"optimizer.lr": (1.0e-5, 1.0e-2), "optimizer.weight_decay": (1.0e-6, 1.0e-2)}


@pytest.mark.parametrize(("search", "problem"), [
    ({"optimizer.lr": {"low": 0.1, "high": 0.01}}, "search.optimizer.lr: low=0.1 must be below high=0.01"),
    ({"optimizer.lr": {"low": 0, "high": 0.1, "log": True}}, "search.optimizer.lr: log=true needs low > 0 (got low=0)"),
    ({"optimizer.lr": {"low": 1, "hi": 2}}, "search.optimizer.lr: unknown field(s) hi; a space has low, high, log, "
                                           "step, or choices"),
    ({"optimizer.lr": {"choices": []}}, "search.optimizer.lr.choices=[]: expected a non-empty list"),
    ({"optimizer.lr": 0.1}, "search.optimizer.lr=0.1: expected {low, high[, log | step]} or {choices: [...]}"),
], ids=["low_above_high", "log_of_zero", "unknown_field", "no_choices", "not_a_space"])
def test_bad_spaces_are_named(search, problem):
    spaces, problems = parse_spaces(search, "optimizer/X")
    assert spaces == [] and problems == [f"optimizer/X: {problem}"]


def test_spaces_know_their_kind_and_edges():
    spaces, problems = parse_spaces({"a": {"low": 1.0e-4, "high": 0.1, "log": True}, "b": {"low": 16, "high": 64,
                                     "step": 16}, "c": {"choices": ["x", "y"]}}, "w")
    assert not problems and [space.kind for space in spaces] == ["float", "int", "categorical"]
    assert bound_overrides(spaces) == [["a=0.0001", "b=16", "c='x'"], ["a=0.1", "b=64", "c='y'"]]
    assert Space("a", 1, 2).contains(1.5) and not Space("a", 1, 2).contains(3)
    assert value_text(True) == "true" and value_text(1e-05) == "1e-05"


@pytest.fixture
def search_conf(tmp_path):
    """The project's config with a base optimizer that learns nothing, so a searched AdamW clearly wins, and an
    option whose spaces are wrong in every way the pre-flight names."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "optimizer" / "Hopeless.yaml").write_text(
        "# @package _global_\noptimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 1.0e-9\n")
    (conf / "config.yaml").write_text((conf / "config.yaml").read_text().replace("  - optimizer: AdamW",
                                                                                   "  - optimizer: Hopeless"))
    (conf / "optimizer_search" / "Broken.yaml").write_text(
        "# @package _global_\noptimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 0.01\n"
        "search:\n  optimizer.lr: {low: -1.0, high: 0.1}\n  optimizer.momentum: {low: 0.5, high: 0.9}\n"
        "  data.batch_size: {low: 16, high: 64, step: 16}\n  optimizer.nesterov: {low: 0.2, high: 0.1}\n")
    return conf


def test_a_bad_space_is_rejected_before_anything_runs(tmp_path, search_conf):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *TINY, "category=optimizer_search", config_dir=search_conf)
    assert finished.returncode == 1
    errors = flat(finished.stderr)
    assert "nothing was started" in errors and not sweep_dir.exists()
    assert "optimizer_search/Broken: search.optimizer.nesterov: low=0.2 must be below high=0.1" in errors
    assert "optimizer_search/Broken: search.optimizer.momentum: the composed config has no key" in errors
    assert ("optimizer_search/Broken: search.data.batch_size: the option does not set data.batch_size; a searched "
            "key must be one of the option's own values") in errors


@pytest.mark.slow
def test_trials_sample_the_space_and_the_best_trial_lands_in_the_best_config(tmp_path, search_conf):
    os.remove(search_conf / "optimizer_search" / "Broken.yaml")
    sweep_dir = tmp_path / "sweep"
    # one seed: the best trial is tested against the base's seeds (its own and 2 control seeds)
    finished = run_sweep(sweep_dir, *TINY, "category=optimizer_search", "hydra.sweeper.n_trials=5",
                         config_dir=search_conf, control_seeds=2)
    assert finished.returncode == 0, finished.stderr[-3000:]
    trials = {name: result for name, result in results(sweep_dir).items() if "trial-" in name}
    assert sorted(trials) == [f"test_resnet/optimizer_search/AdamW/trial-{number}" for number in range(5)]
    for name, result in trials.items():
        config = yaml.safe_load((sweep_dir / name / ".hydra/config.yaml").read_text())["optimizer"]
        for key, (low, high) in SPACES.items():
            assert low <= config[key.split(".")[1]] <= high, (name, key)
        assert f"lr{config['lr']}_wd{config['weight_decay']}" in result["run_name"], "named with its values"
    assert len({json.dumps(result["overrides"]) for result in trials.values()}) == 5, "five different samples"

    assert main(["best", str(sweep_dir)]) == 0
    experiment = (sweep_dir / "best/experiment/best_test_resnet.yaml").read_text()
    assert "  - /optimizer_search: AdamW  # val_f1" in experiment
    best = max(trials.values(), key=lambda result: result["metrics"]["val_f1"])
    job = subprocess.run([sys.executable, str(ROOT / "run_experiments.py"), "--config-path", str(search_conf),
                          "--config-name", "config", "--config-dir", str(sweep_dir / "best"),
                          "+experiment=best_test_resnet", "--cfg", "job"], capture_output=True, text=True, timeout=60)
    assert job.returncode == 0, job.stderr
    composed = yaml.safe_load(job.stdout)["optimizer"]
    winner = next(name for name, result in trials.items() if result is best)
    chosen = yaml.safe_load((sweep_dir / winner / ".hydra/config.yaml").read_text())["optimizer"]
    assert (composed["opt"], composed["lr"], composed["weight_decay"]) == (
        "adamw", chosen["lr"], chosen["weight_decay"]), "the best trial's values, composed"


@pytest.mark.slow
def test_a_killed_search_resumes_with_its_completed_trials_kept(tmp_path, search_conf):
    os.remove(search_conf / "optimizer_search" / "Broken.yaml")
    sweep_dir = tmp_path / "sweep"
    arguments = [*TINY, "category=optimizer_search", "hydra.sweeper.n_trials=4", "trainer.max_epochs=3"]
    command = sweep_command(sweep_dir, *arguments, config_dir=search_conf)
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    trial = sweep_dir / "test_resnet/optimizer_search/AdamW"
    deadline = time.monotonic() + 240
    while len(list(trial.glob("trial-*/result.json"))) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the search ended before it could be killed"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = {path.parent.name: path.read_bytes() for path in trial.glob("trial-*/result.json")}

    finished = run_sweep(sweep_dir, *arguments, config_dir=search_conf)
    assert finished.returncode == 0, finished.stderr[-3000:]
    after = {path.parent.name: path.read_bytes() for path in trial.glob("trial-*/result.json")}
    assert sorted(after) == ["trial-0", "trial-1", "trial-2", "trial-3"], "the search went on to its 4 trials"
    assert all(after[name] == body for name, body in kept.items()), "completed trials are kept, not retrained"
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert sum(entry["rows"][0]["trial"] is not None for entry in manifest["trainings"]) == 4
