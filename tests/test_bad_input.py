"""Bad input fails before training, with an error naming the key, the value and what is allowed."""

import subprocess
import sys
import time

import pytest
import timm
import torch
from conftest import ROOT, compose, flat, run_experiments
from omegaconf import OmegaConf

from hpsweep.core.errors import ConfigError, PretrainedWeightsUnavailable, UnknownModelError
from hpsweep.core.records import read_result
from hpsweep.train.checks import validate
from hpsweep.train.loop import resolve_device, resolve_precision
from hpsweep.train.models import check_model_name, create_model
from hpsweep.train.validation import config_problems


@pytest.mark.parametrize(("override", "message"), [
    ("optimizer.lr=0", "optimizer.lr=0: a learning rate must be a number > 0"),
    ("optimizer.lr=-0.1", "optimizer.lr=-0.1: a learning rate must be a number > 0"),
    ("scheduler=OneCycleLR scheduler.lr_scheduler.max_lr=0", "scheduler.lr_scheduler.max_lr=0"),
    ("data.batch_size=0", "data.batch_size=0: expected an integer >= 1"),
    ("data.batch_size=1.5", "data.batch_size=1.5: expected an integer >= 1"),
    ("early_stopping.patience=0", "early_stopping.patience=0: expected an integer >= 1"),
    ("early_stopping.monitor=f1", "early_stopping.monitor='f1': expected one of auto, val_f1, val_acc, val_loss"),
    ("trainer.precision=fp8", "trainer.precision='fp8': expected one of auto, fp32, bf16, fp16"),
    ("trainer.device=tpu", "trainer.device='tpu': expected one of auto, cpu, cuda"),
    ("logger.mode=sometimes", "logger.mode='sometimes': expected one of auto, online, offline, disabled"),
    ("scheduler.interval=batch", "scheduler.interval='batch': expected one of epoch, step"),
    ("trainer.compile=yes", "trainer.compile='yes': expected true or false"),
    ("data.split_seed=-1", "data.split_seed=-1: expected an integer >= 0"),
])
def test_invalid_value_is_named_with_what_is_allowed(override, message):
    with pytest.raises(ConfigError) as raised:
        validate(compose("model=test_resnet", *override.split()))
    assert message in str(raised.value)


def test_all_problems_are_reported_together():
    with pytest.raises(ConfigError) as raised:
        validate(compose("model=test_resnet", "model.name=resnet5", "optimizer.lr=-1", "data.batch_size=0"))
    assert len(raised.value.problems) == 3


def test_unknown_model_names_the_closest_timm_names():
    with pytest.raises(UnknownModelError, match=r"'resnet5' is not a timm model; closest timm names: resnet50"):
        check_model_name("resnet5")
    with pytest.raises(UnknownModelError, match="resnet50.tv2_in1k"):
        check_model_name("resnet50.tv2_in1kk")  # a known architecture with an unknown pretrained tag


def test_cuda_and_fp16_without_a_gpu_are_config_errors():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="trainer.device='cuda': no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="trainer.precision='fp16' needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_pretrained_without_reachable_weights_fails_in_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    model_cfg = OmegaConf.create({"name": "resnet18", "pretrained": True, "checkpoint_path": None,
                                  "create_kwargs": {}})
    started = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable, match="model.checkpoint_path=.*model.pretrained=false"):
        create_model(model_cfg, num_classes=10, image_size=32)
    assert time.monotonic() - started < 10


def test_checkpoint_path_loads_local_weights(tmp_path):
    source = timm.create_model("test_resnet")
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    model_cfg = OmegaConf.create({"name": "test_resnet", "pretrained": False,
                                  "checkpoint_path": str(tmp_path / "weights.pth"), "create_kwargs": {}})
    model = create_model(model_cfg, num_classes=10, image_size=32)
    assert torch.equal(model.conv1[0].weight, source.conv1[0].weight)
    assert model.get_classifier().out_features == 10
    model_cfg.checkpoint_path = str(tmp_path / "missing.pth")
    with pytest.raises(PretrainedWeightsUnavailable, match="missing.pth"):
        create_model(model_cfg, num_classes=10, image_size=32)


@pytest.mark.slow
def test_bad_input_fails_the_run_before_training_and_is_recorded(tmp_path):
    finished = run_experiments(tmp_path, "optimizer.lr=-1", "early_stopping.patience=0")
    assert finished.returncode != 0
    output = flat(finished.stdout + finished.stderr)
    assert output.count("optimizer.lr=-1: a learning rate must be a number > 0") == 1, "said once"
    assert "early_stopping.patience=0" in output and "Traceback" not in output
    result = read_result(tmp_path)
    assert result["status"] == "failed" and result["error"]["type"] == "ConfigError"
    assert not (tmp_path / "history.csv").exists(), "no epoch may run on invalid input"


@pytest.mark.parametrize("arguments", [["model=test_resnt"], ["-m", "model=test_resnet,test_resnt", "seed=1,2"]],
                         ids=["run", "multirun"])
def test_a_mistyped_option_gets_the_closest_names_not_hydras_search_path(tmp_path, arguments):
    finished = subprocess.run([sys.executable, str(ROOT / "run_experiments.py"), *arguments,
                               f"hydra.run.dir={tmp_path}", f"hydra.sweep.dir={tmp_path}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1
    assert "model='test_resnt': no model/test_resnt.yaml in the config dir; closest: test_resnet" in \
        flat(finished.stderr)
    assert "Config search path" not in finished.stderr and "HYDRA_FULL_ERROR" not in finished.stderr
    assert not list(tmp_path.iterdir()), "nothing was started"


def test_a_cosine_period_that_is_not_the_runs_length_is_flagged_not_refused():
    from hpsweep.train.validation import config_warnings

    assert config_warnings(compose("trainer.max_epochs=5")) == [], "the base cosine spans the run (T_max null)"
    assert config_warnings(compose("trainer=external", "trainer.command=./run_b3.sh", "trainer.max_epochs=8",
                                   "scheduler.lr_scheduler.T_max=25")) == [], "the script trains: no hpsweep schedule"
    [short] = config_warnings(compose("trainer.max_epochs=30", "scheduler.lr_scheduler.T_max=25"))  # the seed's
    assert short.startswith("the cosine schedule (scheduler.lr_scheduler.T_max=25) is shorter than trainer.max_epochs"
                            "=30: the learning rate reaches eta_min at epoch 25 and rises again after it; set "
                            "scheduler.lr_scheduler.T_max=null to follow the run's length, or trainer.max_epochs=25")
    [long] = config_warnings(compose("trainer.max_epochs=8", "scheduler.lr_scheduler.T_max=25"))
    assert "decays only 23% of the way to eta_min; set scheduler.lr_scheduler.T_max=null" in long
    assert config_problems(compose("trainer.max_epochs=30", "scheduler.lr_scheduler.T_max=25")) == [], \
        "a warning, not a problem"
    assert config_warnings(compose("trainer.max_epochs=-1", "scheduler.lr_scheduler.T_max=25")) == [], \
        "the epochs' error makes it moot"


def test_a_warmup_as_long_as_the_run_is_flagged():
    from hpsweep.train.validation import config_warnings

    [warning] = config_warnings(compose("scheduler_warmup=cosine_warmup", "trainer.max_epochs=3"))
    assert warning.startswith("scheduler.lr_scheduler.warmup_epochs=3 is not shorter than trainer.max_epochs=3")
    assert config_warnings(compose("scheduler_warmup=cosine_warmup", "trainer.max_epochs=4")) == []


def test_distorted_validation_names_its_views_and_is_needed_to_monitor_it():
    problems = config_problems(compose("data.val_distortions=[rot90,smudge]", "early_stopping.monitor=val_f1"))
    assert problems == ["data.val_distortions='smudge': expected one of hflip, vflip, rot90, rot180, rot270, blur, "
                        "noise"]
    assert config_problems(compose("early_stopping.monitor=val_f1_distorted")) == [
        "early_stopping.monitor='val_f1_distorted' needs data.val_distortions, e.g. "
        "data.val_distortions=[rot90,rot180,vflip]"]
