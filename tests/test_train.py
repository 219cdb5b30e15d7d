"""End-to-end runs on timm's tiny test model: what a user sees after training."""

import csv
import json
import os
import signal

import pytest
import torch
from conftest import run_experiments
from wandb_records import read_run, run_files

from hpsweep.core.errors import NonFiniteLossError
from hpsweep.core.records import read_result
from hpsweep.sweep.job import run
from hpsweep.train import models
from hpsweep.train.loop import build_data, evaluate
from hpsweep.train.tracking import Tracker

RESULT_KEYS = {"status", "model", "category", "option", "run_name", "wandb_project", "wandb_run_id", "metrics",
               "epochs_run", "stopped_early", "duration_s", "error", "setup", "fingerprint", "resumed_from_epoch",
               "choices", "predictions", "slurm_job_id", "interruptions", "rows", "replicate", "setting", "is_base",
               "overrides", "pruned", "gpu", "started_at", "ended_at", "peak_memory_mb", "provenance", "validation"}


@pytest.mark.slow
def test_cli_run_writes_result_history_and_an_offline_wandb_run(tmp_path):
    finished = run_experiments(tmp_path, "optimizer=SGD", "category=optimizer")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"; upload with wandb sync {tmp_path / 'wandb'}/offline-run-" in finished.stdout
    assert "hpsweep sync" not in finished.stdout, "a run of its own has no sweep dir to sync"

    result = read_result(tmp_path)
    assert set(result) == RESULT_KEYS
    assert result["status"] == "completed" and result["error"] is None
    assert (result["model"], result["category"], result["option"]) == ("test_resnet", "optimizer", "SGD")
    assert result["run_name"].startswith("opt_SGD_lr0.01_m0.9_wd0.0001_")
    assert result["epochs_run"] == 2 and result["stopped_early"] is False
    assert set(result["metrics"]) == {"val_f1", "val_acc", "val_loss", "best_epoch"}
    assert result["metrics"]["val_acc"] > 0.5, "two epochs on digits learn well beyond chance (0.1)"
    schedule = result["setup"].pop("schedule")
    assert result["setup"].pop("recipe") == {"grad_accum_steps": 1, "clip_grad": None, "clip_mode": None,
                                             "mixup": None, "ema": None}  # timm's recipe off, as in the base
    assert result["setup"] | {"parameters": 0} == {
        "device": "cpu", "precision": "fp32", "image_size": 32, "batch_size": 64, "optimizer": "SGD",
        "scheduler": "CosineAnnealingLR", "loss_function": "CrossEntropyLoss", "parameters": 0,
        "class_weights": None, "balance": "none", "train_images": 1527, "val_images": 270}
    # the schedule that took effect: the base cosine spans the run's 2 epochs, down to eta_min after the last
    assert {key: schedule[key] for key in ("interval", "steps_per_epoch", "T_max", "start_lr", "peak_lr")} == {
        "interval": "epoch", "steps_per_epoch": 24, "T_max": 2, "start_lr": 0.01, "peak_lr": 0.01}
    assert schedule["final_lr"] == pytest.approx(0.0001)

    with open(tmp_path / "history.csv") as handle:
        history = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in history] == [1, 2]
    best = history[result["metrics"]["best_epoch"] - 1]
    assert float(best["val_f1"]) == result["metrics"]["val_f1"]

    wandb_run = read_run(tmp_path)
    assert wandb_run["project"] == result["wandb_project"] == "test_resnet"
    assert wandb_run["name"] == result["run_name"]
    assert wandb_run["run_id"] == result["wandb_run_id"]
    assert wandb_run["group"] == "optimizer"
    assert set(wandb_run["tags"]) == {"test_resnet", "optimizer", "SGD"}
    config = wandb_run["config"]
    assert config["optimizer"]["momentum"] == 0.9, "the fully resolved config is logged"
    assert config["optimizer"]["_run_name_"] == "opt_SGD_lr0.01_m0.9_wd0.0001", "interpolations resolved"
    assert config["data"]["image_size"] == 32
    assert [row["epoch"] for row in wandb_run["history"]] == [1, 2]
    assert {"train_loss", "val_loss", "val_acc", "val_f1", "lr"} <= set(wandb_run["history"][0])
    assert wandb_run["summary"]["best_val_f1"] == result["metrics"]["val_f1"]
    assert wandb_run["exit_code"] == 0


def test_saved_best_weights_reproduce_the_recorded_metrics(in_process_job, tmp_path):
    cfg = in_process_job("trainer.max_epochs=3", "early_stopping.patience=1")
    metrics = run(cfg, tmp_path)
    data = build_data(cfg)
    model = models.create_model(cfg.model, num_classes=10, image_size=32)
    model.load_state_dict(torch.load(tmp_path / "best_model.pt"))
    autocast = dict(device_type="cpu", dtype=None, enabled=False)
    val = evaluate(model, data.val_loader, torch.device("cpu"), autocast,
                   torch.preserve_format, 10)
    assert val["val_f1"] == pytest.approx(metrics["val_f1"], abs=1e-9)
    assert val["val_loss"] == pytest.approx(metrics["val_loss"], rel=1e-5)


def test_a_completed_job_started_again_returns_its_result_without_training(in_process_job, tmp_path):
    cfg = in_process_job("trainer.max_epochs=1")
    metrics = run(cfg, tmp_path)
    written = (tmp_path / "result.json").read_bytes()
    assert run(cfg, tmp_path) == metrics  # as when SLURM requeues a job at the moment it finishes
    assert (tmp_path / "result.json").read_bytes() == written
    assert len(run_files(tmp_path)) == 1, "no second W&B run"


def test_a_stop_signal_after_the_last_step_ends_the_process_once_the_result_is_written(in_process_job, tmp_path,
                                                                                         monkeypatch, keep_sigchld):
    cfg = in_process_job("trainer.max_epochs=1")
    signal_during = Tracker.set_summary  # called after the training loop, before the result is written

    def set_summary(self, values):
        os.kill(os.getpid(), signal.SIGTERM)
        signal_during(self, values)

    monkeypatch.setattr(Tracker, "set_summary", set_summary)
    with pytest.raises(SystemExit) as exited:
        run(cfg, tmp_path)
    assert exited.value.code == 128 + signal.SIGTERM, "the signal is not swallowed"
    assert read_result(tmp_path)["status"] == "completed"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_bf16_autocast_trains_on_cpu(in_process_job, tmp_path):
    cfg = in_process_job("trainer.precision=bf16", "trainer.max_epochs=1", "loss_function=Focal")
    run(cfg, tmp_path)
    result = read_result(tmp_path)
    assert result["status"] == "completed"
    assert (result["setup"]["precision"], result["setup"]["loss_function"]) == ("bf16", "FocalLoss")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 with a GradScaler needs a CUDA device")
def test_fp16_with_grad_scaler_trains_on_cuda(in_process_job, tmp_path):
    cfg = in_process_job("trainer.precision=fp16", "trainer.device=cuda", "trainer.max_epochs=1")
    run(cfg, tmp_path)
    assert read_result(tmp_path)["setup"] | {"parameters": 0} >= {"device": "cuda", "precision": "fp16"}


def test_diverging_run_is_recorded_failed_and_wandb_finished(in_process_job, tmp_path):
    cfg = in_process_job("optimizer=SGD", "optimizer.lr=1e30", "optimizer.weight_decay=0", "trainer.max_epochs=1",
                         "category=optimizer")
    with pytest.raises(NonFiniteLossError, match=r"train loss became .* at step (10|20) of epoch 1"):
        run(cfg, tmp_path)  # ended at a check within the epoch (24 steps), not at its end
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "failed"
    assert result["error"]["type"] == "NonFiniteLossError"
    assert result["option"] == "SGD" and result["wandb_run_id"]
    assert set(result) == RESULT_KEYS, "a failed result has the same fields as a completed one"
    assert (result["metrics"], result["epochs_run"]) == (None, 0)
    assert read_run(tmp_path)["exit_code"] == 1, "the W&B run is finished, marked failed"


def test_early_stopping_ends_the_run_and_reports_it(in_process_job, tmp_path):
    # An unreachable min_delta means no epoch after the first counts as an improvement.
    cfg = in_process_job("trainer.max_epochs=5", "early_stopping.patience=2", "early_stopping.min_delta=10")
    run(cfg, tmp_path)
    result = read_result(tmp_path)
    assert (result["epochs_run"], result["stopped_early"], result["metrics"]["best_epoch"]) == (3, True, 1)


@pytest.mark.slow
def test_compiled_model_trains_and_saves_plain_weights(in_process_job, tmp_path):
    # one batch per pass (no ragged last batch to compile again): inductor compiles the train and eval graphs once
    cfg = in_process_job("trainer.compile=true", "trainer.max_epochs=1", "data.image_size=16", "data.batch_size=2048")
    run(cfg, tmp_path)
    state = torch.load(tmp_path / "best_model.pt")
    assert not any(key.startswith("_orig_mod.") for key in state), "weights load into an uncompiled model"
    models.create_model(cfg.model, num_classes=10, image_size=16).load_state_dict(state)
