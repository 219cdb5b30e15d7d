"""Checks of a composed config that run before any training, so bad input costs seconds, not GPU hours.

Only omegaconf here: the checks must stay cheap enough to run for every job of a sweep up front.
"""

import logging
import math
from collections.abc import Iterator

from omegaconf import DictConfig, OmegaConf

from hpsweep.errors import ConfigError
from hpsweep.metrics import MODES, MONITORS
from hpsweep.provenance import DATA_FINGERPRINTS

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
LOGGER_MODES = ("auto", "online", "offline", "disabled")
SCHEDULER_INTERVALS = ("epoch", "step")
POSITIVE_RATES = ("lr", "max_lr")
TTA_VIEWS = ("hflip", "vflip", "rot90", "rot180", "rot270")  # hpsweep.train.predictions.TTA_VIEWS, without torch
DISTORTIONS = (*TTA_VIEWS, "blur", "noise")  # hpsweep.train.predictions.DISTORTIONS
TRAINER_SWITCHES = ("channels_last", "compile", "checkpoint", "save_best_model", "progress_bar")


def config_problems(cfg: DictConfig) -> list[str]:
    """Every invalid value in ``cfg``, each naming the key, the value and what is allowed."""
    problems = []

    def expect(ok: bool, key: str, value, allowed: str) -> None:
        if not ok:
            problems.append(f"{key}={value!r}: {allowed}")

    def one_of(key: str, value, choices: tuple[str, ...]) -> None:
        expect(value in choices, key, value, f"expected one of {', '.join(choices)}")

    def integer_at_least(key: str, value, low: int) -> None:
        expect(isinstance(value, int) and not isinstance(value, bool) and value >= low, key, value,
               f"expected an integer >= {low}")

    if OmegaConf.is_missing(cfg.trainer, "command"):
        problems.append("trainer.command is missing: trainer=external needs the command that trains, "
                        'e.g. trainer.command="python my_train.py"')
    for key in TRAINER_SWITCHES:
        expect(isinstance(cfg.trainer[key], bool), f"trainer.{key}", cfg.trainer[key], "expected true or false")
    for view in cfg.trainer.get("tta") or []:
        one_of("trainer.tta", view, TTA_VIEWS)
    one_of("trainer.precision", cfg.trainer.precision, PRECISIONS)
    one_of("trainer.device", cfg.trainer.device, DEVICES)
    integer_at_least("trainer.max_epochs", cfg.trainer.max_epochs, 1)
    integer_at_least("data.batch_size", cfg.data.batch_size, 1)
    integer_at_least("data.image_size", cfg.data.image_size, 8)
    if "split_seed" in cfg.data:  # scikit-learn's random_state: an integer from 0
        integer_at_least("data.split_seed", cfg.data.split_seed, 0)
    one_of("logger.mode", cfg.logger.mode, LOGGER_MODES)
    verbose = cfg.logger.get("verbose", False)
    expect(isinstance(verbose, bool), "logger.verbose", verbose, "expected true or false")
    one_of("early_stopping.monitor", cfg.early_stopping.monitor, MONITORS)
    if "fingerprint" in cfg.data:
        one_of("data.fingerprint", cfg.data.fingerprint, DATA_FINGERPRINTS)
    distortions = cfg.data.get("val_distortions") or []
    for view in distortions:
        one_of("data.val_distortions", view, DISTORTIONS)
    if str(cfg.early_stopping.monitor).endswith("_distorted") and not distortions:
        problems.append(f"early_stopping.monitor={cfg.early_stopping.monitor!r} needs data.val_distortions, e.g. "
                        "data.val_distortions=[rot90,rot180,vflip]")
    one_of("early_stopping.mode", cfg.early_stopping.mode, MODES)
    integer_at_least("early_stopping.patience", cfg.early_stopping.patience, 1)
    min_delta = cfg.early_stopping.min_delta
    expect(isinstance(min_delta, (int, float)) and min_delta >= 0, "early_stopping.min_delta", min_delta,
           "expected a number >= 0")
    one_of("scheduler.interval", cfg.scheduler.interval, SCHEDULER_INTERVALS)
    for key, value in _rates(cfg):
        expect(isinstance(value, (int, float)) and value > 0, key, value, "a learning rate must be a number > 0")
    weight_decay = cfg.optimizer.get("weight_decay", 0)
    expect(isinstance(weight_decay, (int, float)) and weight_decay >= 0, "optimizer.weight_decay", weight_decay,
           "expected a number >= 0")
    return problems


def config_warnings(cfg: DictConfig) -> list[str]:
    """What will run, but likely not as meant: a cosine period that is not the run's length. Nothing where the
    epochs are invalid: that error makes it moot."""
    scheduler = cfg.scheduler.lr_scheduler
    t_max, epochs = scheduler.get("T_max"), cfg.trainer.max_epochs
    if not str(scheduler.get("_target_", "")).endswith("CosineAnnealingLR") or cfg.scheduler.interval != "epoch" \
            or not isinstance(t_max, int) or not isinstance(epochs, int) or isinstance(epochs, bool) \
            or epochs < 1 or t_max == epochs:
        return []
    fix = (f"set scheduler.lr_scheduler.T_max=null to follow the run's length, or trainer.max_epochs={t_max} to "
           "follow the schedule")
    if t_max < epochs:
        return [f"the cosine schedule (scheduler.lr_scheduler.T_max={t_max}) is shorter than trainer.max_epochs="
                f"{epochs}: the learning rate reaches eta_min at epoch {t_max} and rises again after it; {fix}"]
    return [f"the cosine schedule (scheduler.lr_scheduler.T_max={t_max}) is longer than trainer.max_epochs={epochs}: "
            f"the learning rate decays only {(1 - math.cos(math.pi * epochs / t_max)) / 2:.0%} of the way to "
            f"eta_min; {fix}"]


def _rates(cfg: DictConfig) -> Iterator[tuple[str, object]]:
    for prefix, node in (("optimizer", cfg.optimizer), ("scheduler.lr_scheduler", cfg.scheduler.lr_scheduler)):
        for key in POSITIVE_RATES:
            if node.get(key) is not None:
                yield f"{prefix}.{key}", node[key]


def validate(cfg: DictConfig, warn: bool = True) -> None:
    """Raise one ConfigError listing every problem of ``cfg``: values, the model name and its pretrained weights,
    the data set; where there is none (and ``warn``), log what will run but likely not as meant."""
    from hpsweep.train.data import data_problems  # imports torch and timm: kept off the cheap path
    from hpsweep.train.models import check_model_name, weights_problem

    problems = config_problems(cfg) + data_problems(cfg.data)
    try:
        check_model_name(cfg.model.name)
    except ConfigError as error:
        problems += error.problems
    else:  # its pretrained weights found before the training needs them (no job fails for them later)
        problems += [problem for problem in [weights_problem(cfg.model)] if problem]
    if problems:
        raise ConfigError(problems)
    for warning in config_warnings(cfg) if warn else []:
        logging.getLogger(__name__).warning(warning)
