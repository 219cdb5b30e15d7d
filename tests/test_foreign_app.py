"""The category sweeper on a Hydra app that is not hpsweep's (tests/foreign_app: its own config, groups and
return value): as Hydra's BasicSweeper without ``category``, a category sweep with replicates and failure
isolation with it, and a work queue on submitit_local."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, sweep_counts
from hydra.core.utils import JobStatus

from hpsweep.cli import main

APP_DIR = ROOT / "tests" / "foreign_app"
APP = APP_DIR / "app.py"
sys.path.insert(0, str(APP_DIR))
import app  # noqa: E402  (registers the app's resolver, as running the app would)


def task(cfg):
    return app.main.__wrapped__(cfg)


def sweep_returns(hydra_sweep_runner, tmp_path, sweeper, *overrides, config_name="config"):
    """What Hydra's multirun returns, and each job's (overrides, return value, directory name)."""
    with hydra_sweep_runner(calling_file=str(APP), calling_module=None, task_function=task, config_path="conf",
                            config_name=config_name, overrides=[f"hydra/sweeper={sweeper}", "work.seconds=0",
                                                                *overrides],
                            temp_dir=tmp_path / sweeper) as sweep:
        return [[(tuple(job.overrides), job.return_value, os.path.basename(job.working_dir)) for job in batch]
                for batch in sweep.returns]


@pytest.mark.parametrize("config_name", ["config", "mandatory"])
def test_without_category_it_sweeps_as_hydras_basic_sweeper(hydra_sweep_runner, tmp_path, config_name):
    overrides = ["recipe=plain,spicy", "salt=1,2", "hydra.sweeper.max_batch_size=3"]
    if config_name == "mandatory":
        overrides.append("work=short_a")  # its defaults list leaves work to the command line
    basic = sweep_returns(hydra_sweep_runner, tmp_path, "basic", *overrides, config_name=config_name)
    category = sweep_returns(hydra_sweep_runner, tmp_path, "category", *overrides, config_name=config_name)
    assert category == basic, "the same batches, job numbers, directories and return values"
    assert [len(batch) for batch in category] == [3, 1]
    assert category[0][0][1] == pytest.approx(0.5 + 0.001 + 4), "the app's resolver took effect (doubled = 4)"


def test_a_mandatory_default_left_out_is_reported_before_anything_runs(tmp_path):
    finished = subprocess.run([sys.executable, str(APP), "--config-name", "mandatory", "-m", "hydra/sweeper=category",
                               "recipe=plain,spicy", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 1
    assert "You must specify 'work', e.g, work=<OPTION>" in finished.stderr
    assert "nothing was started" in finished.stderr and not (tmp_path / "sweep").exists()


@pytest.mark.slow
def test_category_sweep_of_another_app_with_replicates_failures_and_resume(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, str(APP), "-m", "hydra/sweeper=category", "+category=recipe", "salt=1,2,3",
               "hydra.sweeper.replicates=[salt]", "work.seconds=0", f"hydra.sweep.dir={sweep_dir}"]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 1 and "3 of 12 jobs failed" in finished.stderr, finished.stderr[-2000:]
    assert "Key 'trainer'" not in finished.stderr, "hpsweep's own checks do not apply to another app"
    # its page, plots of its return values (no known range) included, is written as for hpsweep's own sweeps
    assert "was not rewritten" not in finished.stdout + finished.stderr
    page = (sweep_dir / "report/index.html").read_text()
    assert "spicy" in page and 'src="data:image/svg+xml;base64,' in page
    burnt = json.loads((sweep_dir / "recipe/burnt/salt-1/result.json").read_text())
    assert (burnt["status"], burnt["error"]["type"]) == ("failed", "ValueError")
    spicy = json.loads((sweep_dir / "recipe/spicy/salt-2/result.json").read_text())
    assert spicy["status"] == "completed" and spicy["metrics"] == {"return_value": pytest.approx(4.902)}

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    # the salts race: a recipe clearly behind after two (a paired t-test of the return values) has no third
    counts = sweep_counts(again.stdout)
    assert counts.pop("failed") == 3 and set(counts) <= {"trainings", "completed earlier", "not trained"} and \
        counts.get("completed earlier", 0) + counts.get("not trained", 0) == 9, "only the failed jobs ran again"

    elsewhere = tmp_path / "elsewhere"  # no conf/ here: summary and best need only the sweep dir
    elsewhere.mkdir()
    report = subprocess.run([sys.executable, "-m", "hpsweep.cli", "summary", str(sweep_dir), "--json", "rows.json",
                             "--no-plots"], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    rows = {row["option"]: row for row in json.loads((elsewhere / "rows.json").read_text())}
    assert rows["spicy"]["n"] == 3 and rows["spicy"]["best"] and rows["burnt"]["status"] == "failed"
    best = subprocess.run([sys.executable, "-m", "hpsweep.cli", "best", str(sweep_dir)], cwd=elsewhere,
                          capture_output=True, text=True, timeout=120)
    assert best.returncode == 0, best.stderr
    experiment = (sweep_dir / "best/experiment/best.yaml").read_text()
    assert "  - override /recipe: spicy" in experiment


@pytest.mark.slow
def test_local_launcher_runs_a_work_queue_without_batch_barriers(tmp_path):
    """A long job and three short ones on 2 workers: the short ones run one after another beside the long one,
    instead of waiting for the batch that holds it."""
    sweep_dir = tmp_path / "sweep"
    finished = subprocess.run([sys.executable, str(APP), "-m", "hydra/sweeper=category", "+category=work",
                               "hydra/launcher=submitit_local", "hydra.sweeper.max_batch_size=2",
                               f"hydra.sweep.dir={sweep_dir}"], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    times = {path.parent.name: json.loads(path.read_text()) for path in sweep_dir.glob("**/times.json")}
    assert sorted(times) == ["base", "long", "short_b", "short_c"]
    assert len({job["pid"] for job in times.values()}) == 4, "each job in its own process"
    assert times["short_c"]["started"] < times["long"]["ended"], "the third short job did not wait for the long one"
    results = [json.loads(path.read_text()) for path in sweep_dir.glob("**/result.json")]
    assert all(result["status"] == "completed" for result in results) and len(results) == 4


def test_sweep_outcomes_of_another_app_come_from_what_hydra_returned(tmp_path):
    from hpsweep.core.trainings import Row, Training
    from hpsweep.sweep.outcomes import Outcome, collect_outcomes

    class Returned:  # the parts of Hydra's JobReturn the sweeper reads
        def __init__(self, status, value):
            self.status, self._return_value = status, value

    import numpy as np
    import torch

    returned = {  # what task functions return: Lightning's metric dicts hold tensors
        "dict": Returned(JobStatus.COMPLETED, {"acc": 0.5, "note": "x", "val/f1": torch.tensor(0.75), "flag": True}),
        "number": Returned(JobStatus.COMPLETED, 0.25),
        "tensor": Returned(JobStatus.COMPLETED, torch.tensor(0.125)),
        "numpy": Returned(JobStatus.COMPLETED, np.float32(0.5)),
        "vector": Returned(JobStatus.COMPLETED, torch.tensor([0.1, 0.2])),
        "none": Returned(JobStatus.COMPLETED, None),
        "raised": Returned(JobStatus.FAILED, KeyError("missing")),
    }
    outcomes = [Outcome(Training(("recipe=x",), (Row(None, "recipe", name),)), tmp_path / name, name, None)
                for name in returned]
    for outcome in outcomes:
        outcome.job_return = returned[outcome.fingerprint]
    collect_outcomes(outcomes, "return_value")
    assert [outcome.result["metrics"] for outcome in outcomes] == [
        {"acc": 0.5, "val/f1": 0.75}, {"return_value": 0.25}, {"return_value": 0.125}, {"return_value": 0.5}, {}, {},
        None]
    assert [outcome.status for outcome in outcomes] == ["completed"] * 6 + ["failed"], "None completes, valueless"
    assert outcomes[-1].result["error"]["type"] == "KeyError"
    assert json.loads((tmp_path / "tensor" / "result.json").read_text())["metrics"] == {"return_value": 0.125}


def test_commands_that_read_a_sweep_dir_work_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no conf/ here
    assert main(["status", str(tmp_path)]) == 1
    assert "is not a sweep dir" in capsys.readouterr().err, "a clear error, not a missing --config-dir"
    with pytest.raises(SystemExit):
        main(["matrix", "category=optimizer"])  # this one composes configs: it says how to find them
    assert "point --config-dir at the app's Hydra config dir" in capsys.readouterr().err
