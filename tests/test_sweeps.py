"""Real category sweeps in subprocesses, as a user runs them: job counts, failures, resume, launchers."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import CONF_DIR, CPU_SIZE, ROOT, flat, sweep_counts
from wandb_records import read_run

pytestmark = pytest.mark.slow
ENV = {**os.environ, "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"}


# The base's control seeds (4 more trainings per model where no seed is swept) are off in the suite's sweeps
# unless a test asks for them: their counts are the plan's without them.
NO_CONTROL = "hydra.sweeper.control_seeds=0"


def sweep_command(sweep_dir, *arguments, config_dir=None, control_seeds=0):
    config = ["--config-path", str(config_dir), "--config-name", "config"] if config_dir else []
    return [sys.executable, str(ROOT / "run_experiments.py"), *config, "-m", *CPU_SIZE,
            f"hydra.sweeper.control_seeds={control_seeds}", *arguments, f"hydra.sweep.dir={sweep_dir}"]


def run_sweep(sweep_dir, *arguments, config_dir=None, timeout=600, env=None, control_seeds=0):
    return subprocess.run(sweep_command(sweep_dir, *arguments, config_dir=config_dir, control_seeds=control_seeds),
                          cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=timeout)


def results(sweep_dir) -> dict[str, dict]:
    """Every result.json under the sweep dir, by job directory relative to it."""
    return {str(path.parent.relative_to(sweep_dir)): json.loads(path.read_text())
            for path in sorted(sweep_dir.glob("**/result.json"))}


@pytest.fixture
def extended_conf(tmp_path):
    """The project's config plus a new model, a new category and a diverging option: files only."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "test_convnext.yaml").write_text(
        "name: test_convnext\npretrained: false\ncheckpoint_path: null\ncreate_kwargs: {}\n")
    (conf / "model" / "typo.yaml").write_text(
        "name: resnet5\npretrained: false\ncheckpoint_path: null\ncreate_kwargs: {}\n")
    (conf / "model" / "test_vit.yaml").write_text(
        "name: test_vit\npretrained: false\ncheckpoint_path: null\ncreate_kwargs: {}\n")
    (conf / "dropout").mkdir()
    for rate in (0, 5):
        (conf / "dropout" / f"drop{rate}.yaml").write_text(
            f"# @package _global_\nmodel:\n  create_kwargs:\n    drop_rate: 0.{rate}\n")
    (conf / "optimizer" / "Diverge.yaml").write_text(
        "# @package _global_\noptimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 1.0e+30\n"
        "run_name_parts:\n  optimizer: opt_Diverge\n")
    return conf


def test_new_model_and_category_sweep_with_no_code_change_and_one_failure_is_isolated(tmp_path, extended_conf):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, "model=test_convnext", "category=dropout,optimizer", "trainer.max_epochs=1",
                         config_dir=extended_conf)
    assert finished.returncode == 1, "a failed job makes the sweep exit non-zero"
    assert "1 of 5 jobs failed" in finished.stderr
    assert sweep_counts(finished.stdout) == {"trainings": 5, "completed": 4, "failed": 1}
    finished_lines = [line for line in finished.stdout.splitlines() if re.match(r"\[\d+/\d+\] test_convnext ", line)]
    assert len(finished_lines) == 5 and "HPSWEEP_CLAIM" not in finished.stdout + finished.stderr, \
        "one line per finished training, and never the driver's claim token"
    assert "optimizer/Diverge failed, NonFiniteLossError; its log is in" in finished.stdout

    found = results(sweep_dir)
    assert sorted(found) == ["test_convnext/base", "test_convnext/dropout/drop0", "test_convnext/dropout/drop5",
                             "test_convnext/optimizer/Diverge", "test_convnext/optimizer/SGD"]
    failed = found.pop("test_convnext/optimizer/Diverge")
    assert (failed["status"], failed["error"]["type"]) == ("failed", "NonFiniteLossError")
    assert all(result["status"] == "completed" for result in found.values())
    dropout = found["test_convnext/dropout/drop5"]
    assert dropout["run_name"].startswith("dropout_drop5_"), "a category without a name template still names runs"
    assert read_run(sweep_dir / "test_convnext/dropout/drop5")["config"]["model"]["create_kwargs"]["drop_rate"] == 0.5
    assert found["test_convnext/optimizer/SGD"]["setup"]["optimizer"] == "SGD"

    # Running the same sweep again retries only the failed job; finished results are untouched.
    completed = {name: (sweep_dir / name / "result.json").stat().st_mtime_ns for name in found}
    again = run_sweep(sweep_dir, "model=test_convnext", "category=dropout,optimizer", "trainer.max_epochs=1",
                      config_dir=extended_conf)
    assert again.returncode == 1
    assert sweep_counts(again.stdout) == {"trainings": 5, "completed earlier": 4, "failed": 1}
    assert (sweep_dir / "test_convnext/optimizer/Diverge/result.previous.json").is_file(), "the first attempt kept"
    assert {name: (sweep_dir / name / "result.json").stat().st_mtime_ns for name in found} == completed


def test_killed_sweep_resumes_without_losing_or_repeating_work(tmp_path):
    sweep_dir = tmp_path / "sweep"
    arguments = ["model=test_resnet", "category=optimizer", "trainer.max_epochs=4"]
    process = subprocess.Popen(sweep_command(sweep_dir, *arguments), cwd=ROOT, env=ENV, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, second = sweep_dir / "test_resnet/base", sweep_dir / "test_resnet/optimizer/SGD"
    deadline = time.monotonic() + 240
    while not ((first / "result.json").exists() and (second / "last_checkpoint.pt").exists()):
        assert process.poll() is None and time.monotonic() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole sweep, mid-way through the second job
    process.wait()
    assert not (second / "result.json").exists()
    first_result = (first / "result.json").read_bytes()
    run_id = json.loads((second / "job.json").read_text())["wandb_run_id"]

    finished = run_sweep(sweep_dir, *arguments)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert sweep_counts(finished.stdout) == {"trainings": 2, "completed": 1, "completed earlier": 1}
    assert (first / "result.json").read_bytes() == first_result, "a finished job is neither retrained nor rewritten"
    resumed = json.loads((second / "result.json").read_text())
    assert resumed["status"] == "completed" and resumed["resumed_from_epoch"] >= 1
    assert resumed["epochs_run"] == 4, "as many epochs as an uninterrupted run"
    assert resumed["wandb_run_id"] == run_id, "the interrupted job goes on in its own W&B run"
    history = (second / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3", "4"]
    assert not (second / "last_checkpoint.pt").exists()
    assert len(results(sweep_dir)) == 2, "exactly one result per job"

    # Resuming restores every RNG and optimizer state: the result equals an uninterrupted run's.
    uninterrupted = run_sweep(tmp_path / "fresh", "model=test_resnet", "category=optimizer", "trainer.max_epochs=4",
                              "optimizer=SGD")
    assert uninterrupted.returncode == 0
    fresh = results(tmp_path / "fresh")["test_resnet/base"]  # SGD is that sweep's base
    assert fresh["metrics"] == resumed["metrics"]


def test_preflight_reports_every_problem_and_runs_nothing(tmp_path, extended_conf):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, "model=test_vit,typo", "category=optimizer", "optimizer.lr=-1",
                         "data.batch_size=0", "early_stopping.patience=0", "data.image_size=40",
                         config_dir=extended_conf)
    assert finished.returncode == 1
    errors = flat(finished.stderr)
    assert "5 problem(s) in 6 trainings; nothing was started" in errors
    assert "trainings 0, 1, 2, 3, 4, 5 (6 trainings): optimizer.lr=-1: a learning rate must be a number > 0" in errors
    assert "data.batch_size=0: expected an integer >= 1" in errors
    assert "early_stopping.patience=0: expected an integer >= 1" in errors
    assert "trainings 0, 1, 2 (3 trainings): data.image_size=40 does not fit test_vit: " in errors
    assert "trainings 3, 4, 5 (3 trainings): model.name='resnet5' is not a timm model; closest timm names: " \
           "resnet50" in errors

    unknown_option = run_sweep(sweep_dir, "model=test_resnet", "category=optimizer", "scheduler=Cosine,OneCycle")
    unknown_option.stderr = flat(unknown_option.stderr)
    assert unknown_option.returncode == 1
    assert "4 problem(s) in 4 trainings; nothing was started" in unknown_option.stderr
    assert ("training 0 (test_resnet / base (optimizer/AdamW) scheduler=Cosine): scheduler='Cosine': no "
            "scheduler/Cosine.yaml in the config dir; options: CosineAnnealingLR, OneCycleLR") in unknown_option.stderr
    assert "scheduler='OneCycle': no scheduler/OneCycle.yaml in the config dir; closest: OneCycleLR" in \
        unknown_option.stderr
    assert not sweep_dir.exists(), "a rejected sweep leaves no sweep dir behind (nothing ran)"


def test_submitit_local_runs_jobs_as_parallel_processes_and_isolates_failures(tmp_path, extended_conf):
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, "hydra/launcher=local", "model=test_resnet", "category=optimizer",
                         "trainer.max_epochs=1", "hydra.launcher.timeout_min=10", config_dir=extended_conf)
    assert finished.returncode == 1 and "1 of 3 jobs failed" in finished.stderr
    statuses = {name: result["status"] for name, result in results(sweep_dir).items()}
    assert statuses == {"test_resnet/base": "completed", "test_resnet/optimizer/Diverge": "failed",
                        "test_resnet/optimizer/SGD": "completed"}
    assert len(list((sweep_dir / ".submitit").glob("*/*_result.pkl"))) == 3, "each job ran in its own process"
