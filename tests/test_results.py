"""What users read out of finished sweeps: the summary, its exports and plots, the best combination,
and jobs trained by an external script."""

import csv
import json
import shutil
import sys

import pytest
from conftest import CONF_DIR, run_experiments
from test_sweeps import results, run_sweep

from hpsweep.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_job(root, model, category, option, status="completed", val_f1=None, epochs=3, duration=60.0):
    """A job directory as a sweep leaves it: result.json and history.csv."""
    directory = root / model / category / option
    directory.mkdir(parents=True)
    record = {"status": status, "model": model, "category": category, "option": option, "duration_s": duration,
              "epochs_run": epochs, "choices": {"model": model, category: option},
              "metrics": {"val_f1": val_f1, "val_acc": val_f1, "val_loss": 1 - val_f1, "best_epoch": epochs}
              if status == "completed" else None,
              "error": None if status == "completed" else {"type": "NonFiniteLossError", "message": "diverged"}}
    (directory / "result.json").write_text(json.dumps(record))
    with open(directory / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "val_f1", "val_loss"])
        writer.writeheader()
        for epoch in range(1, epochs + 1):
            writer.writerow({"epoch": epoch, "val_f1": (val_f1 or 0.1) * epoch / epochs, "val_loss": 1 / epoch})
    return directory


@pytest.fixture
def finished_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    write_job(sweep, "test_resnet", "optimizer", "AdamW", val_f1=0.80)
    write_job(sweep, "test_resnet", "optimizer", "SGD", val_f1=0.90)
    write_job(sweep, "test_resnet", "optimizer", "Diverge", status="failed")
    write_job(sweep, "test_resnet", "early_stopping", "patience5", val_f1=0.95)
    write_job(sweep, "test_resnet", "early_stopping", "patience10", val_f1=0.85)
    write_job(sweep, "test_efficientnet", "optimizer", "AdamW", val_f1=0.70)
    interrupted = sweep / "test_efficientnet" / "optimizer" / "SGD"
    interrupted.mkdir(parents=True)
    (interrupted / "job.json").write_text(json.dumps({"model": "test_efficientnet", "category": "optimizer",
                                                      "option": "SGD", "fingerprint": "f"}))
    broken = sweep / "cut_short"
    broken.mkdir()
    (broken / "result.json").write_text('{"status": "compl')  # a kill mid-write by some other tool
    return sweep


def test_summary_table_exports_and_plots(finished_sweep, tmp_path, capsys):
    exports = tmp_path / "report"
    assert main(["summary", str(finished_sweep), "--csv", str(exports / "summary.csv"),
                 "--markdown", str(exports / "summary.md")]) == 0
    out = capsys.readouterr().out
    assert "SGD ★ best" in out and "patience5 ★ best" in out and "AdamW ★ best" in out  # efficientnet's only one
    assert "7 jobs: 5 completed, 1 failed, 1 incomplete" in out
    assert "macro F1 best 0.9500, mean 0.8400; accuracy best 0.9500; mean time 1.0 min per completed job" in out

    with open(exports / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7
    assert [(row["option"], row["best"]) for row in rows if row["model"] == "test_resnet"
            and row["category"] == "optimizer"] == [("AdamW", "False"), ("Diverge", "False"), ("SGD", "True")]

    markdown = (exports / "summary.md").read_text()
    assert "| optimizer | **SGD** (best) | completed | 0.9000 |" in markdown
    assert "![test_resnet_options](test_resnet_options.png)" in markdown
    for name in ("test_resnet_options", "test_resnet_best_curves", "test_efficientnet_options"):
        assert (exports / f"{name}.png").read_bytes()[:8] == PNG_MAGIC, name


def test_best_writes_an_experiment_config_that_trains(finished_sweep, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    assert main(["--config-dir", str(conf), "best", str(finished_sweep)]) == 0
    experiment = (conf / "experiment" / "best_test_resnet.yaml").read_text()
    assert "  - override /model: test_resnet\n" in experiment
    assert "  - override /optimizer: SGD  # val_f1 0.9000 in " in experiment
    assert "  - override /early_stopping: patience5  # val_f1 0.9500 in " in experiment
    assert f"chosen by `hpsweep best {finished_sweep}`" in experiment

    run_dir = tmp_path / "run"
    finished = run_experiments(run_dir, "+experiment=best_test_resnet", "trainer.max_epochs=1", config_dir=conf)
    assert finished.returncode == 0, finished.stderr[-2000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed"
    assert (result["choices"]["optimizer"], result["choices"]["early_stopping"]) == ("SGD", "patience5")
    assert result["run_name"].startswith("best_test_resnet_")


EXTERNAL_SCRIPT = """
import argparse, json, sys, yaml
parser = argparse.ArgumentParser()
parser.add_argument("--config")
parser.add_argument("--metrics")
args = parser.parse_args()
cfg = yaml.safe_load(open(args.config))
lr = cfg["optimizer"]["lr"]
if lr > 0.005:  # this script cannot handle SGD's learning rate: it writes no metrics
    sys.exit(0)
history = [{"epoch": epoch, "val_f1": 0.5 + 0.1 * epoch} for epoch in (1, 2)]
json.dump({"val_f1": 0.7, "val_acc": 0.75, "history": history, "model_seen": cfg["model"]["name"]},
          open(args.metrics, "w"))
"""


def test_external_script_runs_in_a_category_sweep(tmp_path):
    script = tmp_path / "my_train.py"
    script.write_text(EXTERNAL_SCRIPT)
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, "model=test_resnet", "category=optimizer", "trainer=external",
                         f"trainer.command='{sys.executable} {script}'")
    assert finished.returncode == 1 and "1 of 2 jobs failed" in finished.stderr
    found = results(sweep_dir)
    adamw, sgd = found["test_resnet/optimizer/AdamW"], found["test_resnet/optimizer/SGD"]
    assert adamw["status"] == "completed" and adamw["metrics"]["val_f1"] == 0.7
    assert adamw["setup"]["external_command"].endswith("my_train.py")
    assert (sweep_dir / "test_resnet/optimizer/AdamW/history.csv").read_text().count("\n") == 3
    assert (sgd["status"], sgd["error"]["type"]) == ("failed", "ExternalTrainerError")
    assert "wrote no metrics file" in sgd["error"]["message"]

    again = run_sweep(sweep_dir, "model=test_resnet", "category=optimizer", "trainer=external",
                      f"trainer.command='{sys.executable} {script}'")
    assert "0 completed, 1 skipped, 1 failed" in again.stdout, "resume works for external jobs too"


@pytest.mark.parametrize(("script", "reason"), [
    ("import sys; sys.exit(3)", "exited with status 3"),
    ("import sys; open(sys.argv[-1], 'w').write('{not json')", "is not valid JSON"),
    ("import sys, json; json.dump({'val_acc': 1}, open(sys.argv[-1], 'w'))", "with a number under 'val_f1'"),
    ("import time; time.sleep(30)", "did not finish within trainer.timeout_min=0.02"),
], ids=["exit_status", "malformed", "no_monitor", "timeout"])
def test_external_script_failures_are_explained(tmp_path, script, reason):
    path = tmp_path / "train.py"
    path.write_text(script)
    finished = run_experiments(tmp_path / "run", "trainer=external", f"trainer.command='{sys.executable} {path}'",
                               "trainer.timeout_min=0.02")
    assert finished.returncode != 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "failed" and reason in result["error"]["message"]


def test_external_without_a_command_is_a_config_error(tmp_path):
    finished = run_experiments(tmp_path, "trainer=external")
    assert finished.returncode != 0 and "trainer.command is missing" in finished.stderr

