"""What users read out of finished sweeps: the summary, its exports and plots, the best combination,
and jobs trained by an external script."""

import csv
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, flat, run_experiments, sweep_counts
from fake_sweeps import by_option, fake_sweep
from test_sweeps import results, run_sweep

from hpsweep.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEEDS = "seed=1,2,3"


def summary_json(tmp_path, *directories) -> list[dict]:
    path = tmp_path / "report" / "summary.json"
    assert main(["summary", *map(str, directories), "--json", str(path), "--no-plots"]) == 0
    return json.loads(path.read_text())


def test_replicates_aggregate_into_one_row_per_option(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer,loss_function", SEEDS, "data.image_size=32",
               value=by_option({"base": [0.80, 0.82, 0.78], "SGD": [0.90, 0.91, 0.93], "Focal": [0.82, 0.80, 0.80],
                                "LabelSmoothing": ["failed", 0.95, 0.96]}))
    rows = {(row["category"], row["option"]): row for row in summary_json(tmp_path, sweep)}
    sgd = rows[("optimizer", "SGD")]
    assert (sgd["n"], sgd["values"], sgd["replicates"]) == (3, [0.90, 0.91, 0.93], ["seed=1", "seed=2", "seed=3"])
    assert sgd["mean"] == pytest.approx(statistics.mean([0.90, 0.91, 0.93]))
    assert sgd["std"] == pytest.approx(statistics.stdev([0.90, 0.91, 0.93]))
    assert (sgd["min"], sgd["max"]) == (0.90, 0.93)
    assert sgd["delta_base"] == pytest.approx(statistics.mean([0.10, 0.09, 0.15]))
    assert sgd["best"] and "better than the base" in sgd["verdict"]
    assert rows[("optimizer", "AdamW")]["values"] == [0.80, 0.82, 0.78], "the base's training answers its row"
    assert rows[("loss_function", "CrossEntropy")]["best"], "Focal is within noise, LabelSmoothing failed a seed"
    assert rows[("loss_function", "LabelSmoothing")]["status"] == "failed"
    for row in rows.values():
        assert {"model", "category", "option", "n", "mean", "std", "values", "best", "sweep"} <= set(row)
        assert row["fixed"] == ["data.image_size=32"]

    assert main(["summary", str(sweep), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "SGD ★" in out and "0.9133 ± 0.0153" in out and "CrossEntropy ★ (base)" in out
    assert "loss_function: keep CrossEntropy (base); Focal led by" in out
    assert "2 completed, 1 failed" in next(line for line in out.splitlines() if "LabelSmoothing" in line)
    assert f"test_resnet ({sweep}; data.image_size=32)" in " ".join(out.split()), \
        "each comparison says its sweep and settings"
    before = sorted(sweep.rglob("*"))
    assert main(["summary", str(sweep)]) == 0
    assert sorted(sweep.rglob("*")) == before, "alone, summary only reads the sweep dir: no plots written into it"


@pytest.mark.hostile
@pytest.mark.parametrize(("alpha", "racing"), [("0.05; rm -rf", "obrien_fleming"), (None, [1]), (7, {"efficacy": 3})])
def test_a_manifest_whose_alpha_or_racing_means_nothing_is_decided_at_the_defaults(tmp_path, alpha, racing):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", SEEDS,
               value=by_option({"base": [0.80, 0.81, 0.79], "SGD": [0.845, 0.83, 0.835]}))
    manifest = json.loads((sweep / "sweep.json").read_text())
    manifest.update(alpha=alpha, racing=racing)
    (sweep / "sweep.json").write_text(json.dumps(manifest))
    before = {path: path.read_bytes() for path in sweep.rglob("*") if path.is_file()}
    rows = {row["option"]: row for row in summary_json(tmp_path, sweep)}
    assert rows["SGD"]["best"] and "better than the base" in rows["SGD"]["verdict"], "alpha 0.05, one look"
    assert {path: path.read_bytes() for path in sweep.rglob("*") if path.is_file()} == before


def test_summary_exports_and_plots_with_every_replicate(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet,test_efficientnet", "category=optimizer", SEEDS,
               value=by_option({"base": [0.80, 0.82, 0.78] * 2, "SGD": [0.90, 0.91, 0.93] * 2}))
    exports = tmp_path / "report"
    assert main(["summary", str(sweep), "--csv", str(exports / "summary.csv"),
                 "--markdown", str(exports / "summary.md")]) == 0
    with open(exports / "summary.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 and {row["option"] for row in table} == {"AdamW", "SGD"}
    assert next(row for row in table if row["option"] == "SGD")["values"] == "0.9 0.91 0.93"
    markdown = (exports / "summary.md").read_text()
    assert "| optimizer | **SGD** ★ | completed | 3 | 0.9133 ± 0.0153 |" in markdown
    assert "![test_resnet_options](test_resnet_options.png)" in markdown
    for name in ("test_resnet_options", "test_resnet_best_curves", "test_efficientnet_options"):
        assert (exports / f"{name}.png").read_bytes()[:8] == PNG_MAGIC, name


def test_several_sweeps_are_never_mixed_in_one_comparison(tmp_path, capsys):
    outputs = tmp_path / "outputs"
    fake_sweep(outputs / "short", "model=test_resnet", "category=optimizer", "trainer.max_epochs=2",
               value=by_option({"base": 0.7, "SGD": 0.6}))
    fake_sweep(outputs / "long", "model=test_resnet", "category=optimizer", "trainer.max_epochs=20",
               value=by_option({"base": 0.9, "SGD": 0.95}))
    rows = summary_json(tmp_path, outputs)
    assert {(Path(row["sweep"]).name, row["option"], row["mean"]) for row in rows} == {
        ("long", "AdamW", 0.9), ("long", "SGD", 0.95), ("short", "AdamW", 0.7), ("short", "SGD", 0.6)}
    out = flat(capsys.readouterr().out)
    assert f"({outputs / 'long'}; trainer.max_epochs=20)" in out
    assert f"({outputs / 'short'}; trainer.max_epochs=2)" in out


def test_results_of_an_earlier_plan_are_left_out_and_said(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", value=by_option({"base": 0.7, "SGD": 0.6}))
    stale = sweep / "test_resnet/optimizer/SGD-0123abcd"
    stale.mkdir()
    (stale / "result.json").write_text(json.dumps({"status": "completed", "metrics": {"val_f1": 0.99}}))
    assert main(["summary", str(sweep), "--no-plots"]) == 0
    assert "1 result(s) of an earlier plan of this sweep (other settings) are not in its comparisons" in \
        flat(capsys.readouterr().out)


def test_best_writes_a_config_that_trains_as_compared(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer,loss_function", SEEDS, "data.image_size=24",
               "trainer.max_epochs=3", "logger.mode=offline",
               value=by_option({"base": [0.70, 0.72, 0.71], "SGD": [0.95, 0.70, 0.71],  # luckiest seed, poor mean
                                "Focal": [0.80, 0.81, 0.80], "LabelSmoothing": [0.70, 0.73, 0.71]}))
    assert main(["best", str(sweep)]) == 0
    experiment = (sweep / "best/experiment/best_test_resnet.yaml").read_text()
    assert "  - override /model: test_resnet" in experiment
    assert "  - override /optimizer: AdamW  # base kept: val_f1 0.7100 (n=3): SGD has the best mean" in experiment
    assert "  - override /loss_function: Focal  # val_f1 0.8033 (n=3): better than the base" in experiment
    assert "seed" not in experiment.split("defaults:")[1], "seeds are replicates, not choices"
    assert "logger" not in experiment.split("defaults:")[1]
    assert f"run_experiments.py --config-dir {sweep / 'best'} +experiment=best_test_resnet\n" in experiment
    assert "-m +experiment=best_test_resnet seed=1,2,3" in experiment

    job = subprocess.run([sys.executable, str(ROOT / "run_experiments.py"), "--config-dir", str(sweep / "best"),
                          "+experiment=best_test_resnet", "--cfg", "job"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert job.returncode == 0, job.stderr
    cfg = yaml.safe_load(job.stdout)
    assert (cfg["data"]["image_size"], cfg["trainer"]["max_epochs"]) == (24, 3), "the sweep's fixed overrides"
    assert (cfg["model"]["name"], cfg["optimizer"]["opt"], cfg["loss_function"]["_target_"]) == (
        "test_resnet", "adamw", "hpsweep.train.losses.FocalLoss")
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                              text=True).stdout.count("experiment/"), "the checkout stays clean"


def test_a_fold_sweep_writes_no_fold_into_the_best_config(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer,fold",
               value=by_option({"base": [0.70, 0.72, 0.71, 0.69, 0.70], "SGD": [0.90, 0.91, 0.93, 0.92, 0.90]}))
    rows = summary_json(tmp_path, sweep)
    assert [(row["option"], row["n"]) for row in rows] == [("AdamW", 5), ("SGD", 5)], "folds are replicates"
    assert main(["best", str(sweep), "--out", str(tmp_path / "configs")]) == 0
    experiment = (tmp_path / "configs/experiment/best_test_resnet.yaml").read_text()
    assert "override /optimizer: SGD" in experiment and "/fold" not in experiment.split("defaults:")[1]
    assert "-m +experiment=best_test_resnet fold=fold0,fold1,fold2,fold3,fold4" in experiment


def test_best_over_a_greedy_sweep_takes_its_last_stage(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", value=by_option({"base": 0.7, "SGD": 0.6}))
    (sweep / "decisions.json").write_text(json.dumps({"stages": [
        {"stage": 1, "category": "optimizer", "fingerprints": [], "decisions": [
            {"model": "test_resnet", "setting": [], "winner": "SGD", "kept_base": False, "reason": "stage one",
             "notes": [], "overrides": ["optimizer=SGD"]}]}]}))
    assert main(["best", str(sweep), "--out", str(tmp_path)]) == 0
    assert "  - override /optimizer: SGD  # stage 1: stage one" in (tmp_path / "experiment/best_test_resnet.yaml") \
        .read_text()
    capsys.readouterr()
    assert main(["best", str(sweep), "--out", str(tmp_path), "--metric", "val_acc"]) == 1, "its path is val_f1's"
    assert "a greedy sweep's stages trained around the winners val_f1 chose" in flat(capsys.readouterr().err)


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
    adamw, sgd = found["test_resnet/base"], found["test_resnet/optimizer/SGD"]
    assert adamw["status"] == "completed" and adamw["metrics"]["val_f1"] == 0.7
    assert adamw["setup"]["external_command"].endswith("my_train.py")
    assert adamw["peak_memory_mb"] is None and adamw["started_at"] < adamw["ended_at"], "the same fields as ours"
    assert (sweep_dir / "test_resnet/base/history.csv").read_text().count("\n") == 3
    given = (sweep_dir / "test_resnet/base/config.yaml").read_text()
    assert "opt: adamw" in given and "_run_name_" not in given, "the options' arguments, without hpsweep's run names"
    assert (sgd["status"], sgd["error"]["type"]) == ("failed", "ExternalTrainerError")
    assert "wrote no metrics file" in sgd["error"]["message"]

    again = run_sweep(sweep_dir, "model=test_resnet", "category=optimizer", "trainer=external",
                      f"trainer.command='{sys.executable} {script}'")
    assert sweep_counts(again.stdout) == {"trainings": 2, "completed earlier": 1, "failed": 1}, \
        "resume works for external jobs too"


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
    assert finished.returncode != 0 and "trainer.command is missing" in finished.stdout + finished.stderr



def test_runs_outside_a_sweep_are_compared_where_their_settings_match(tmp_path):
    runs = tmp_path / "outputs" / "runs"
    for name, overrides, value in (("a", ["data.image_size=32"], 0.8), ("b", ["data.image_size=32", "seed=2"], 0.9),
                                   ("c", ["data.image_size=64"], 0.7)):
        (runs / name).mkdir(parents=True)
        (runs / name / "result.json").write_text(json.dumps({
            "status": "completed", "model": "test_resnet", "category": None, "option": "base", "overrides": overrides,
            "metrics": {"val_f1": value}}))
    rows = summary_json(tmp_path, tmp_path / "outputs")
    assert sorted((tuple(row["setting"]), row["n"], row["mean"]) for row in rows) == [
        (("data.image_size=32",), 2, pytest.approx(0.85)), (("data.image_size=64",), 1, 0.7)], "seeds: replicates"


def test_summary_of_outputs_keeps_single_runs_out_of_the_sweeps_tables_and_says_where_they_are(tmp_path, capsys):
    outputs = tmp_path / "outputs"
    fake_sweep(outputs / "sweeps" / "mine", "model=test_resnet", "category=optimizer", SEEDS,
               value=by_option({"base": [0.80, 0.82, 0.78], "SGD": [0.90, 0.91, 0.93]}))
    for name, status in (("2026-12-01_10-00-00", "completed"), ("2026-12-01_11-00-00", "failed")):
        run = outputs / "runs" / name  # a single run (python run_experiments.py), one of them bad input
        shutil.copytree(outputs / "sweeps/mine/test_resnet/optimizer/SGD/seed-1", run)
        record = json.loads((run / "result.json").read_text())
        (run / "result.json").write_text(json.dumps({**record, "status": status}))
    table = tmp_path / "summary.json"
    assert main(["summary", str(outputs), "--json", str(table), "--no-plots"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(table.read_text())
    assert {row["sweep"] for row in rows} == {str(outputs / "sweeps" / "mine")}, "no single run in a sweep's table"
    assert {row["option"]: row["n"] for row in rows} == {"AdamW": 3, "SGD": 3}
    assert f"2 single run(s) outside any sweep, under {outputs / 'runs'}, are not in these tables: " \
           f"hpsweep summary {outputs / 'runs'} compares them" in flat(out)
    assert main(["summary", str(outputs / "runs"), "--json", str(table), "--no-plots"]) == 0
    assert {row["sweep"] for row in json.loads(table.read_text())} == {str(outputs / "runs")}, "named, compared"
