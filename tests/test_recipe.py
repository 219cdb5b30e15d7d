"""timm's recipe as categories: each option file takes effect, and trainings show what a user would check
(the warmup in history.csv, EMA weights in best_model.pt, no mixup in validation, accumulation's updates,
clipping's grip), with the pre-flight refusing what cannot train."""

import copy
import csv

import pytest
import timm
import torch
from conftest import RECIPE_CATEGORIES, compose, compose_training, option_names
from omegaconf import OmegaConf
from torch.optim.optimizer import register_optimizer_step_post_hook

from hpsweep.core.errors import ConfigError
from hpsweep.core.records import read_result
from hpsweep.sweep.job import run
from hpsweep.train import loop, models
from hpsweep.train.checks import validate
from hpsweep.train.loop import build_data, evaluate
from hpsweep.train.recipe import build_ema, build_mixup, build_optimizer, build_updates, model_config
from hpsweep.train.validation import config_problems


def history(directory) -> list[dict]:
    with open(directory / "history.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("option", option_names("mixup"))
def test_mixup_option_takes_effect(option):
    cfg = compose(f"mixup={option}")
    mixup, criterion = build_mixup(cfg.trainer.mixup, cfg.loss_function, num_classes=10)
    if option == "none":
        assert mixup is None and criterion is None
        return
    assert type(criterion).__name__ == "SoftTargetCrossEntropy"
    for key, value in cfg.trainer.mixup.items():
        if key != "mixup_off_epoch":  # train.py's key: the loop reads it
            assert getattr(mixup, "mix_prob" if key == "prob" else key) == value, key


def test_label_smoothing_moves_from_the_loss_into_mixup():
    cfg = compose("mixup=cutmix1.0", "loss_function=LabelSmoothing")
    mixup, criterion = build_mixup(cfg.trainer.mixup, cfg.loss_function, num_classes=10)
    assert mixup.label_smoothing == 0.1 and type(criterion).__name__ == "SoftTargetCrossEntropy"


@pytest.mark.parametrize("option", option_names("ema"))
def test_ema_option_takes_effect(option):
    cfg = compose(f"ema={option}")
    ema = build_ema(cfg.trainer.ema, timm.create_model("test_resnet", num_classes=10))
    if option == "none":
        assert ema is None
        return
    for key, value in cfg.trainer.ema.items():
        assert getattr(ema, key) == value, key


@pytest.mark.parametrize("option", option_names("regularization"))
def test_regularization_option_takes_effect(option):
    cfg = compose_training(f"regularization={option}", "model=test_resnet")
    model = models.create_model(model_config(cfg), num_classes=10, image_size=32)
    optimizer = build_optimizer(cfg.optimizer, model)
    if option.startswith("drop_path"):
        rates = [module.drop_prob for module in model.modules() if type(module).__name__ == "DropPath"]
        assert rates and max(rates) == pytest.approx(cfg.trainer.drop_path_rate)
    else:
        assert max(group["weight_decay"] for group in optimizer.param_groups) == cfg.optimizer.weight_decay


@pytest.mark.parametrize("category", RECIPE_CATEGORIES)
def test_recipe_options_pass_the_pre_flight(category):
    for option in option_names(category):
        assert config_problems(compose(f"{category}={option}")) == [], f"{category}/{option}.yaml"


@pytest.mark.parametrize(("overrides", "expected"), [
    (["ema=decay0.999", "trainer.ema.decay=1.5"], "ema/decay0.999.yaml: trainer.ema.decay=1.5"),
    (["ema=decay0.9998_warmup", "trainer.ema.decay=0"], "ema/decay0.9998_warmup.yaml: trainer.ema.decay=0"),
    (["mixup=mixup0.2", "loss_function=Focal"], "mixup/mixup0.2.yaml sets trainer.mixup"),
    (["mixup=cutmix1.0", "trainer.mixup.prob=2"], "mixup/cutmix1.0.yaml: trainer.mixup.prob=2"),
    (["grad_clip=norm1.0", "trainer.grad_clip.clip_mode=max"], "grad_clip/norm1.0.yaml: trainer.grad_clip.clip_mode"),
    (["scheduler_warmup=step_warmup", "scheduler.lr_scheduler.sched=linear"],
     "scheduler_warmup/step_warmup.yaml: scheduler.lr_scheduler.sched='linear'"),
    (["+optimizer.layer_decay=0.75"], "optimizer.layer_decay=0.75: timm's optimizer scales each layer's rate"),
    (["data=csv", "data.root=x", "augmentation=light", "+data.augmentation.hlfip=0.5"],
     "augmentation/light.yaml: data.augmentation.hlfip: not an argument of timm.data.create_transform"),
    (["data=csv", "data.root=x", "augmentation=randaugment", "data.augmentation.auto_augment=randaug-m9"],
     "augmentation/randaugment.yaml: data.augmentation.auto_augment='randaug-m9': expected a timm policy"),
], ids=["ema_above_one", "ema_zero", "mixup_focal", "mixup_prob", "clip_mode", "timm_sched", "layer_decay",
        "augmentation_key", "augmentation_policy"])
def test_the_pre_flight_refuses_a_recipe_that_cannot_train(overrides, expected, in_process_job):
    cfg = in_process_job(*overrides)  # as a job sees it: the option files named by Hydra's runtime choices
    with pytest.raises(ConfigError) as raised:
        validate(cfg)
    assert expected in str(raised.value)
    if "loss_function=Focal" in overrides:
        assert "loss_function/Focal.yaml" in str(raised.value) and "needs hard labels" in str(raised.value)


def test_a_sweeps_pre_flight_names_each_jobs_option_file():
    from hpsweep.core.trainings import Row, Training
    from hpsweep.sweep.preflight import job_problems

    jobs = [Training(("model=test_resnet", "category=mixup", f"mixup={option}", "loss_function=Focal"),
                     (Row("test_resnet", "mixup", option, ()),)) for option in ("mixup0.2", "cutmix1.0")]
    # as the driver hands them over: task configs, without Hydra's node (and its runtime choices)
    configs = [OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
               for cfg in (compose(*job.overrides) for job in jobs)]
    problems = job_problems(jobs, configs)
    assert len(problems) == 2
    assert all("loss_function/Focal.yaml" in problem for problem in problems)
    assert "mixup/mixup0.2.yaml sets trainer.mixup" in problems[0] and "mixup/cutmix1.0.yaml" in problems[1]


def test_layer_decay_takes_effect_under_a_timm_schedule():
    cfg = compose_training("model=test_resnet", "scheduler_warmup=cosine_warmup", "+optimizer.layer_decay=0.5")
    assert config_problems(cfg) == []
    optimizer, _ = build_updates(cfg, timm.create_model("test_resnet", num_classes=10), steps_per_epoch=10,
                                 device=torch.device("cpu"), precision="fp32", monitor_mode="max")
    rates = sorted({group["lr"] for group in optimizer.param_groups})
    assert len(rates) > 2 and rates[-1] == pytest.approx(1e-5), "each layer its own share of the warmup's rate"


def test_the_lr_in_history_follows_the_warmup(in_process_job, tmp_path):
    cfg = in_process_job("scheduler_warmup=cosine_warmup", "scheduler.lr_scheduler.warmup_epochs=2",
                         "trainer.max_epochs=3", "early_stopping.patience=100")
    run(cfg, tmp_path)
    lrs = [float(row["lr"]) for row in history(tmp_path)]
    base, start, floor = 0.001, 1e-5, 1e-5
    # linear from warmup_lr over 2 epochs, then timm's cosine (over the run's 3 epochs) from where it stands
    assert lrs == pytest.approx([start, start + (base - start) / 2, floor + (base - floor) * 0.25], rel=1e-6)


def test_best_weights_are_the_ema_weights_and_differ_from_the_raw_ones(in_process_job, tmp_path, monkeypatch):
    saved = []
    real_save = loop.save_atomic

    def keep_checkpoints(state, path):
        if "model_ema" in state:
            saved.append(copy.deepcopy({"model": state["model"], "model_ema": state["model_ema"]}))
        real_save(state, path)

    monkeypatch.setattr(loop, "save_atomic", keep_checkpoints)
    run(in_process_job("ema=decay0.999", "trainer.max_epochs=1"), tmp_path)
    best = torch.load(tmp_path / "best_model.pt", weights_only=True)
    ema = {key.removeprefix("module."): value for key, value in saved[-1]["model_ema"].items()}
    raw = saved[-1]["model"]
    assert best.keys() == raw.keys() == ema.keys()
    assert all(torch.equal(best[key], ema[key]) for key in best)
    assert any(not torch.allclose(best[key].float(), raw[key].float()) for key in best if "weight" in key)
    assert read_result(tmp_path)["setup"]["recipe"]["ema"] == {"decay": 0.999, "use_warmup": False}


def test_ema_and_mixup_train_under_bf16_autocast(in_process_job, tmp_path):
    """The recipe under bf16 autocast, on the CPU's (a GPU is no test's): mixed batches in bf16, the EMA updated
    outside autocast, its weights kept fp32 and finite."""
    run(in_process_job("trainer.precision=bf16", "ema=decay0.999", "mixup=mixup0.8_cutmix1.0", "trainer.max_epochs=1"),
        tmp_path)
    result = read_result(tmp_path)
    assert (result["status"], result["setup"]["precision"]) == ("completed", "bf16")
    assert result["setup"]["recipe"]["ema"] == {"decay": 0.999, "use_warmup": False}
    assert result["setup"]["recipe"]["mixup"]["mixup_alpha"] == 0.8
    best = torch.load(tmp_path / "best_model.pt", weights_only=True)
    floats = [tensor for tensor in best.values() if tensor.is_floating_point()]
    assert floats and all(tensor.dtype == torch.float32 and torch.isfinite(tensor).all() for tensor in floats)


def test_validation_sees_no_mixup(in_process_job, tmp_path, monkeypatch):
    from timm.data import Mixup

    calls = []
    real_call = Mixup.__call__
    monkeypatch.setattr(Mixup, "__call__", lambda self, x, target: calls.append(len(x)) or real_call(self, x, target))
    cfg = in_process_job("mixup=mixup0.8_cutmix1.0", "trainer.max_epochs=1")
    metrics = run(cfg, tmp_path)
    assert len(calls) == 24 and calls[-1] == 54, "every training batch is mixed, the odd last one less one image"
    # the recorded validation loss is plain cross-entropy of the unmixed validation images
    model = models.create_model(cfg.model, num_classes=10, image_size=32)
    model.load_state_dict(torch.load(tmp_path / "best_model.pt", weights_only=True))
    val = evaluate(model, build_data(cfg).val_loader, torch.device("cpu"), dict(device_type="cpu", enabled=False),
                   torch.preserve_format, 10)
    assert val["val_loss"] == pytest.approx(metrics["val_loss"], rel=1e-5)
    assert val["val_acc"] == metrics["val_acc"]


def optimizer_steps(in_process_job, directory, *overrides) -> tuple[int, dict]:
    steps = []
    handle = register_optimizer_step_post_hook(lambda *_: steps.append(1))
    try:
        run(in_process_job("trainer.max_epochs=1", *overrides), directory)
    finally:
        handle.remove()
    return len(steps), read_result(directory)["setup"]["schedule"]


def test_accumulation_of_4_at_batch_16_makes_as_many_updates_as_batch_64(in_process_job, tmp_path):
    accumulated = optimizer_steps(in_process_job, tmp_path / "accumulated", "data.batch_size=16",
                                  "trainer.grad_accum_steps=4")
    whole = optimizer_steps(in_process_job, tmp_path / "whole", "data.batch_size=64")
    assert accumulated[0] == whole[0] == 24  # 1527 images: 96 batches of 16 in 24 updates, 24 batches of 64
    assert accumulated[1]["steps_per_epoch"] == 96 and accumulated[1]["updates"] == whole[1]["updates"] == 24


def test_a_clip_of_1e_6_leaves_the_weights_all_but_still(in_process_job, tmp_path, monkeypatch):
    initial = []
    real_create = models.create_model

    def remember(*args, **kwargs):
        model = real_create(*args, **kwargs)
        initial.append({name: value.detach().clone() for name, value in model.named_parameters()})
        return model

    monkeypatch.setattr(models, "create_model", remember)

    def largest_move(directory, *overrides) -> float:
        run(in_process_job("optimizer=SGD", "optimizer.weight_decay=0", "trainer.max_epochs=1", *overrides),
            directory)
        best = torch.load(directory / "best_model.pt", weights_only=True)
        return max((best[name] - value).abs().max().item() for name, value in initial[-1].items())

    assert largest_move(tmp_path / "clipped", "grad_clip=norm1.0", "trainer.grad_clip.clip_grad=1e-6") < 1e-6
    assert largest_move(tmp_path / "free") > 1e-3, "without the clip the same training moves the weights"


class Interrupted(Exception):
    pass


def test_a_resumed_training_restores_the_ema_and_the_schedule(in_process_job, tmp_path, monkeypatch):
    """A job stopped after its first epoch's checkpoint goes on as if never stopped: the EMA weights, the count
    of updates the EMA warmup and a per-update schedule follow, and the schedule itself."""
    overrides = ("trainer.max_epochs=2", "ema=decay0.9998_warmup", "scheduler_warmup=cosine_warmup",
                 "scheduler.interval=step", "early_stopping.patience=100")
    straight = run(in_process_job(*overrides), tmp_path / "straight")
    real_train_epoch, epochs = loop.train_epoch, []

    def stop_in_the_second_epoch(*args, **kwargs):
        epochs.append(1)
        if len(epochs) == 2:
            raise Interrupted
        return real_train_epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "train_epoch", stop_in_the_second_epoch)
    with pytest.raises(Interrupted):
        run(in_process_job(*overrides), tmp_path / "resumed")
    monkeypatch.setattr(loop, "train_epoch", real_train_epoch)
    resumed = run(in_process_job(*overrides), tmp_path / "resumed")
    assert read_result(tmp_path / "resumed")["resumed_from_epoch"] == 1
    assert resumed == pytest.approx(straight, rel=1e-6)
    for row, again in zip(history(tmp_path / "straight"), history(tmp_path / "resumed"), strict=True):
        assert float(again["lr"]) == pytest.approx(float(row["lr"]), rel=1e-9)
        assert float(again["val_loss"]) == pytest.approx(float(row["val_loss"]), rel=1e-6)


@pytest.mark.parametrize(("lr_base_size", "opt", "expected"), [
    (None, "adamw", 0.001),                      # off by default: the option's rate as given
    (128, "adamw", 0.001 * (64 * 2 / 128) ** 0.5),  # adaptive optimizers: by the square root of the batch ratio
    (512, "sgd", 0.001 * 64 * 2 / 512),          # others: linearly
], ids=["off", "sqrt", "linear"])
def test_the_lr_follows_the_effective_batch_by_timms_rule_when_asked(lr_base_size, opt, expected):
    cfg = compose_training("model=test_resnet", f"optimizer={'SGD' if opt == 'sgd' else 'AdamW'}", "optimizer.lr=0.001",
                  "data.batch_size=64", "trainer.grad_accum_steps=2", f"trainer.lr_base_size={lr_base_size or 'null'}")
    model = timm.create_model("test_resnet", num_classes=10)
    optimizer, updates = build_updates(cfg, model, steps_per_epoch=10, device=torch.device("cpu"), precision="fp32",
                                       monitor_mode="max")
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    assert (updates.accum_steps, updates.per_epoch) == (2, 5)


def test_mixup_stops_after_mixup_off_epoch(in_process_job, tmp_path, monkeypatch):
    from timm.data import Mixup

    calls = []
    real_call = Mixup.__call__
    monkeypatch.setattr(Mixup, "__call__", lambda self, x, target: calls.append(len(x)) or real_call(self, x, target))
    run(in_process_job("mixup=mixup0.2", "trainer.mixup.mixup_off_epoch=1", "data.batch_size=256"), tmp_path)
    assert len(calls) == 6, "the first epoch's 6 batches are mixed, the second's not"
    assert len(history(tmp_path)) == 2
