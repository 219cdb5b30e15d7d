"""The ``hpsweep`` command as a user types it."""

import json
import os
import socket
import subprocess
import sys

from conftest import ROOT
from test_sweep_plan import SEED_MODELS

from hpsweep.cli import main
from hpsweep.sweep import claims

NO_TORCH = """
import sys
from hpsweep.cli import main
code = main(sys.argv[1:])
heavy = sorted(name for name in ("torch", "timm") if name in sys.modules)
assert not heavy, f"the matrix imported {heavy}"
sys.exit(code)
"""


def test_matrix_of_the_seed_lists_68_jobs_with_run_names_and_imports_no_torch(tmp_path):
    finished = subprocess.run([sys.executable, "-c", NO_TORCH, "matrix", f"model={SEED_MODELS}", "category=all",
                               "--results", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "COLUMNS": "160"})  # wide enough for the run names
    assert finished.returncode == 0, finished.stderr
    out = " ".join(finished.stdout.split())  # sentences wrapped to the terminal, read as one line
    assert "68 rows: 4 model(s) x 6 categories" in out
    # the 52 trainings of the seed's matrix, and the base's 4 control seeds for each of the 4 models (no seed swept)
    assert "68 trainings: each model's base also answers" in out
    assert "16 of them the base's control seeds (4 more seeds per model" in out
    for project in ("efficientnet_b4_ra2_in1k", "efficientnet_b3_ra2_in1k", "resnet50_tv2_in1k",
                    "swin_base_patch4_window12_384_ms_in1k"):
        assert f"(W&B project {project})" in out
    for name in ("opt_SGD_lr0.01_m0.9_wd0.0001_<ts>", "sch_OneCycleLR_maxlr0.01_<ts>",
                 "loss_FocalLoss_alpha2.0_gamma1.0_<ts>", "img512_batch16_<ts>", "batch32_MP_<ts>",
                 "es_patience20_<ts>"):
        assert out.count(name) == 4, name
    assert "no time estimate: no past results of efficientnet_b3.ra2_in1k, efficientnet_b4.ra2_in1k" in out


def test_matrix_estimates_time_from_past_results_scaled_to_epochs_and_image_size(tmp_path, capsys):
    # past runs at 32 px: 10 s outside their epochs, then 5 epochs of 10 s (AdamW) or 20 s (SGD)
    for option, epoch_s in (("AdamW", 10.0), ("SGD", 20.0)):
        job_dir = tmp_path / option
        job_dir.mkdir()
        (job_dir / "result.json").write_text(json.dumps({
            "status": "completed", "model": "test_resnet", "category": "optimizer", "option": option,
            "duration_s": 10 + 5 * epoch_s, "setup": {"image_size": 32}}))
        (job_dir / "history.csv").write_text("epoch,epoch_s\n" + "".join(f"{n},{epoch_s}\n" for n in range(1, 6)))
    (tmp_path / "other").mkdir()
    (tmp_path / "other/result.json").write_text(json.dumps({"status": "completed", "model": "resnet18"}))
    assert main(["matrix", "model=test_resnet", "category=optimizer,early_stopping", "data.image_size=64",
                 "trainer.max_epochs=10", "hydra.sweeper.control_seeds=0", "--results", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "5 rows: 1 model(s) x 2 categories" in out and "4 trainings" in out
    # at 64 px an epoch costs 4 times as much, and there are twice as many: the base and the patience options at
    # the model's mean (10 + 10 x 15 x 4 = 610 s), SGD at its own (10 + 10 x 20 x 4 = 810 s)
    assert "estimated time: 44.0 min for 4 of 4 trainings" in out
    assert "from 2 past results of test_resnet" in out and "scaled to each job's epochs and image size" in out
    assert main(["matrix", "model=test_efficientnet", "category=optimizer", "--results", str(tmp_path)]) == 0
    assert "no time estimate: no past results of test_efficientnet in" in capsys.readouterr().out
    # a plain multirun (no category) fixes its model: the estimate comes from that model's results (10 + 15 x 10 x 4 s)
    assert main(["matrix", "model=test_resnet", "data.image_size=64", "trainer.max_epochs=10", "--results",
                 str(tmp_path)]) == 0
    assert "estimated time: 10.2 min for 1 of 1 trainings" in " ".join(capsys.readouterr().out.split())


def test_matrix_rejects_unknown_categories(capsys):
    assert main(["matrix", "model=test_resnet", "category=optimiser"]) == 1
    assert "category='optimiser': no config group" in capsys.readouterr().err


def test_check_prints_names_or_every_problem(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_cache"))  # a machine without the weights, offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["check", "model=resnet50.tv2_in1k", "optimizer=SGD"]) == 1
    err = " ".join(capsys.readouterr().err.split())  # wrapped to the terminal
    assert "model resnet50.tv2_in1k (model.pretrained=true): pretrained weights for 'resnet50.tv2_in1k' are not in " \
           "the local cache" in err
    assert "model.checkpoint_path=<a local weights file>" in err and "model.pretrained=false" in err
    weights = tmp_path / "resnet50.safetensors"
    weights.write_bytes(b"")  # found is all check asks; loading it is the training's
    for provided in ("model.pretrained=false", f"model.checkpoint_path={weights}"):
        assert main(["check", "model=resnet50.tv2_in1k", "optimizer=SGD", provided]) == 0, provided
        out = capsys.readouterr().out
        assert "W&B project: resnet50_tv2_in1k" in out and "run name: opt_SGD_lr0.01_m0.9_wd0.0001_" in out
    assert main(["check", "optimizer.lr=0", "data.batch_size=0"]) == 1
    err = " ".join(capsys.readouterr().err.split())  # wrapped to the terminal
    assert "optimizer.lr=0" in err and "data.batch_size=0" in err
    assert main(["check", "model=test_resnt"]) == 1
    assert "error: model='test_resnt': no model/test_resnt.yaml in the config dir; closest: test_resnet" in \
        " ".join(capsys.readouterr().err.split())


def test_status_tells_each_job_where_it_stands(tmp_path, capsys):
    tmp_path = tmp_path / ("a_long_sweep_dir_name_" * 6)  # longer than any table column
    tmp_path.mkdir()
    jobs = [{"label": f"m / optimizer / {name}", "model": "m", "category": "optimizer", "option": name,
             "directory": f"m/optimizer/{name}"} for name in ("AdamW", "SGD", "Lion")]
    (tmp_path / "sweep.json").write_text(json.dumps({"jobs": jobs}))
    for name in ("AdamW", "SGD"):
        (tmp_path / "m/optimizer" / name).mkdir(parents=True)
        (tmp_path / "m/optimizer" / name / "job.json").write_text(json.dumps({"fingerprint": name}))
    (tmp_path / "m/optimizer/AdamW/result.json").write_text(json.dumps({"status": "completed"}))
    (tmp_path / "m/optimizer/AdamW/run_experiments.log").write_text("")
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 trainings: 1 completed, 1 queued, 1 interrupted" in out, "SGD started, and nobody holds it now"
    assert f"m\toptimizer\tAdamW\t1 completed\t{tmp_path / 'm/optimizer/AdamW/run_experiments.log'}\n" in out, \
        "piped: one line per row, tab-separated, every path whole"
    claims.take(tmp_path / "m/optimizer/Lion", "a-driver")  # a live claim: a driver launched it, no job took it yet
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"m\toptimizer\tLion\t1 queued\tlaunched by {socket.gethostname()}, pid {os.getpid()}, since " in out
    claims.take(tmp_path / "m/optimizer/Lion", "a-driver", adopt=True)  # its job started and adopted the claim
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"m\toptimizer\tLion\t1 running\t{socket.gethostname()}, pid {os.getpid()}, since " in out
    assert main(["status", str(tmp_path / "m")]) == 1
    assert "is not a sweep dir: it has no sweep.json" in capsys.readouterr().err


def test_a_mistyped_path_is_said_not_to_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (["summary", "outputs/sweeps/dmeo"], ["best", "outputs/sweeps/dmeo"]):
        assert main(command) == 1
        error = " ".join(capsys.readouterr().err.split())  # wrapped to the terminal
        assert f"error: outputs/sweeps/dmeo does not exist (relative paths start at {tmp_path})" in error
        assert "no result.json" not in error
