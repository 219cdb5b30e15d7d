"""The category sweeper on a Hydra project shaped like lightning-hydra-template (tests/template_app): ``paths``
from ``${hydra:runtime.output_dir}``, checkpoint dirs that interpolate it, ``${now:...}`` sweep dirs, an
``experiment`` group, ``optional local``, a job logging override of its own, a ConfigStore group, a custom
resolver, a spawning trainer and an ``optimized_metric`` returned as Optional[float]. The template's own sweeps
give the same jobs, directories, configs, files and return values through both sweepers; category sweeps run
through ours."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, flat

TRAIN = ROOT / "tests" / "template_app" / "src" / "train.py"
OURS = ("result.json",)  # what the category sweeper adds to a job's directory


def run_app(sweep_dir: Path, *overrides: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python src/train.py -m ...`` as the template's tests run it."""
    cwd = cwd or sweep_dir.parent
    return subprocess.run([sys.executable, str(TRAIN), "-m", f"hydra.sweep.dir={sweep_dir}", *overrides],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PROJECT_ROOT": str(cwd)})  # its logs/ and data/ go there


def jobs_of(sweep_dir: Path) -> dict[str, dict]:
    """Each job directory (by its path in the sweep) as a user would compare them: its task overrides and config,
    the files the app wrote (with the path of the directory the sweep ran in taken out) and its log's epochs."""
    jobs = {}
    for hydra_dir in sorted(sweep_dir.glob("**/.hydra")):
        job = hydra_dir.parent
        files = sorted(str(path.relative_to(job)) for path in job.rglob("*") if path.is_file()
                       and ".hydra" not in path.parts and path.name not in OURS)
        app_files = {name: (job / name).read_text().replace(str(sweep_dir.parent), "<top>")
                     for name in ("metrics.json", "checkpoints/best.json", "run.yaml") if (job / name).is_file()}
        log = (job / "train.log").read_text() if (job / "train.log").is_file() else ""
        jobs[str(job.relative_to(sweep_dir))] = {
            "overrides": yaml.safe_load((hydra_dir / "overrides.yaml").read_text()),
            "config": (hydra_dir / "config.yaml").read_text(), "files": files, **app_files,
            "logged_epochs": log.count("val/acc")}
    return jobs


# The template's tests/test_sweeps.py, and the patterns a real project adds to the same command line.
TEMPLATE_SWEEPS = [
    pytest.param(["experiment=glob(*)"], id="test_experiments"),
    pytest.param(["model.optimizer.lr=0.005,0.01"], id="test_hydra_sweep"),
    pytest.param(["trainer=spawn", "trainer.max_epochs=3", "model.optimizer.lr=0.005,0.01,0.02"],
                 id="test_hydra_sweep_ddp_sim"),
    pytest.param(["seed=range(1,3)", "data.batch_size=choice(16,32)", "schedule=glob(*)", "hydra.job.chdir=true"],
                 id="range_choice_configstore_chdir"),
    pytest.param(["optimized_metric=null", "model.optimizer.lr=0.1,0.2"], id="returns_none"),
]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", TEMPLATE_SWEEPS)
def test_the_templates_own_sweeps_run_as_with_hydras_basic_sweeper(tmp_path, overrides):
    done = {}
    for sweeper in ("basic", "category"):
        sweep_dir = tmp_path / sweeper / "multirun"
        sweep_dir.parent.mkdir()
        finished = run_app(sweep_dir, f"hydra/sweeper={sweeper}", *overrides)
        assert finished.returncode == 0, finished.stderr[-3000:]
        assert "Traceback" not in finished.stderr
        done[sweeper] = jobs_of(sweep_dir)
    basic, ours = done["basic"], done["category"]
    assert ours == basic, "the same job directories, overrides, configs, files, checkpoints, metrics and logs"
    assert all(job["logged_epochs"] for job in ours.values()), "the app's job logging override wrote each job's log"
    assert all("checkpoints/best.json" in job["files"] for job in ours.values()), "${paths.output_dir} resolved per job"
    for name, job in ours.items():
        result = json.loads((tmp_path / "category/multirun" / name / "result.json").read_text())
        best = json.loads(job["metrics.json"])["best"]
        expected = {} if "optimized_metric=null" in overrides else {"return_value": best["val/acc"]}
        assert result["status"] == "completed" and result["metrics"] == expected, "the task's return value"
    if "hydra.job.chdir=true" in overrides:
        assert all(yaml.safe_load(job["run.yaml"])["cwd"] == f"<top>/multirun/{name}" for name, job in ours.items())


@pytest.fixture(scope="module")
def optim_sweep(tmp_path_factory):
    """A category sweep of the template: an option folder whose files are ``@package model.optimizer``, three
    seeds as replicates, an experiment from a glob as a setting, run from another directory."""
    top = tmp_path_factory.mktemp("template")
    sweep_dir = top / "sweeps" / "optim"
    finished = run_app(sweep_dir.relative_to(top), "hydra/sweeper=category", "+category=optim,schedule",
                       "seed=1,2,3", "hydra.sweeper.replicates=[seed]", "experiment=glob(q*)",
                       "hydra.sweeper.racing=false", cwd=top)
    return top, sweep_dir, finished


@pytest.mark.slow
def test_a_category_sweep_of_the_template_with_replicates(optim_sweep):
    top, sweep_dir, finished = optim_sweep
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = {str(path.parent.relative_to(sweep_dir)): json.loads(path.read_text())
               for path in sweep_dir.glob("**/result.json")}
    assert sorted(results) == [f"linear/{row}/experiment-quick_seed-{seed}" for row in
                               ("base", "optim/momentum", "optim/slow", "schedule/decay") for seed in (1, 2, 3)]
    for name, result in results.items():
        best = json.loads((sweep_dir / name / "metrics.json").read_text())["best"]
        assert result["metrics"] == {"return_value": best["val/acc"]}
        made = result["provenance"]  # an app that records nothing itself: the driver's code and packages
        assert made["code"]["repo"] == str(ROOT) and made["data"] is None and made["packages"]["hydra-core"]
    config = "experiment-quick_seed-{}/.hydra/config.yaml"
    momentum = yaml.safe_load((sweep_dir / "linear/optim/momentum" / config.format(2)).read_text())
    assert momentum["model"]["optimizer"] == {"_target_": "src.learn.SGD", "_partial_": True, "lr": 0.3,
                                              "momentum": 0.5, "weight_decay": 0.001}, "the option took its package"
    assert momentum["seed"] == 2 and momentum["tags"] == ["quick"], "the replicate and the experiment took effect"
    decay = yaml.safe_load((sweep_dir / "linear/schedule/decay" / config.format(1)).read_text())
    assert decay["schedule"] == {"kind": "decay", "gamma": 0.7}, "a ConfigStore option is a category option"
    summary = subprocess.run([sys.executable, "-m", "hpsweep.cli", "summary", str(sweep_dir), "--json", "rows.json",
                              "--no-plots"], cwd=top, capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stderr
    rows = {(row["category"], row["option"]): row for row in json.loads((top / "rows.json").read_text())}
    assert rows[("optim", "momentum")]["n"] == 3 and rows[("schedule", "decay")]["n"] == 3
    assert rows[("schedule", "constant")]["n"] == 3, "the base row of a ConfigStore group is named by its default"


@pytest.mark.slow
def test_a_group_at_a_package_of_its_own_and_a_task_that_returns_none(tmp_path):
    sweep_dir = tmp_path / "sweep"
    finished = run_app(sweep_dir, "hydra/sweeper=category", "+category=optim@model.optimizer",
                       "optimized_metric=null")
    assert finished.returncode == 0, finished.stderr[-3000:]
    slow = yaml.safe_load((sweep_dir / "linear/optim@model.optimizer/slow/.hydra/config.yaml").read_text())
    assert slow["model"]["optimizer"]["lr"] == 0.05, "+optim@model.optimizer=slow composed"
    assert json.loads((sweep_dir / "linear/base/result.json").read_text())["metrics"] == {}
    summary = subprocess.run([sys.executable, "-m", "hpsweep.cli", "summary", str(sweep_dir), "--no-plots"],
                             capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stderr
    assert "nothing to decide by: the trainings completed without a value of the metric" in flat(summary.stdout)
    assert "not all replicates completed" not in summary.stdout


def test_an_interval_is_refused_before_anything_runs_with_what_to_do(tmp_path):
    sweep_dir = tmp_path / "sweep"
    finished = run_app(sweep_dir, "hydra/sweeper=category", "+category=optim", "model.optimizer.lr=interval(0.01,0.1)")
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    assert "model.optimizer.lr=interval(0.01,0.1): an interval is a range to sample from" in finished.stderr
    assert "search: mapping" in finished.stderr and not sweep_dir.exists()
