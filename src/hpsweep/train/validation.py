"""Checks of a composed config that run before any training, so bad input costs seconds, not GPU hours.

Only omegaconf here: the checks must stay cheap enough to run for every job of a sweep up front.
"""

import math
from collections.abc import Iterator

from omegaconf import DictConfig, OmegaConf

from hpsweep.core.metrics import MODES, MONITORS
from hpsweep.data.digests import DATA_FINGERPRINTS

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
LOGGER_MODES = ("auto", "online", "offline", "disabled")
SCHEDULER_INTERVALS = ("epoch", "step")
POSITIVE_RATES = ("lr", "max_lr")
TTA_VIEWS = ("hflip", "vflip", "rot90", "rot180", "rot270")  # hpsweep.train.predictions.TTA_VIEWS, without torch
DISTORTIONS = (*TTA_VIEWS, "blur", "noise")  # hpsweep.train.predictions.DISTORTIONS
TRAINER_SWITCHES = ("channels_last", "compile", "checkpoint", "save_best_model", "progress_bar")
# the arguments of timm's calls that the recipe categories fill (timm.data.Mixup, timm.utils.ModelEmaV3), without timm
MIXUP_KEYS = ("mixup_alpha", "cutmix_alpha", "cutmix_minmax", "prob", "switch_prob", "mode", "correct_lam",
              "mixup_off_epoch")
MIXUP_MODES = ("batch", "pair", "elem")
EMA_KEYS = ("decay", "min_decay", "use_warmup", "warmup_gamma", "warmup_power", "foreach", "exclude_buffers", "device")
CLIP_MODES = ("norm", "value", "agc")
LR_BASE_SCALES = ("auto", "linear", "sqrt")
TIMM_SCHEDULES = ("cosine", "tanh", "step", "multistep", "plateau", "poly")
# losses mixup trains with: cross entropy becomes timm's SoftTargetCrossEntropy, the others take soft targets
SOFT_TARGET_LOSSES = ("torch.nn.CrossEntropyLoss", "timm.loss.SoftTargetCrossEntropy", "timm.loss.BinaryCrossEntropy")

# hpsweep's own augmentation keys, for what timm's create_transform lacks (documents turn and rotate on paper)
OWN_AUGMENTATION_KEYS = ("rotation", "fill")
# the augmentation keys passed to timm.data.create_transform as they are
TIMM_AUGMENTATION_KEYS = ("scale", "ratio", "hflip", "vflip", "color_jitter", "color_jitter_prob", "grayscale_prob",
                          "gaussian_blur_prob", "auto_augment", "re_prob", "re_mode", "re_count")
# a timm policy string's first part (rand-m9-mstd0.5, augmix-m5-w4-d2, or an AutoAugment policy's name)
AUTO_AUGMENT_KINDS = ("rand", "augmix", "original", "originalr", "v0", "v0r", "3a")


def config_problems(cfg: DictConfig, choices: dict | None = None) -> list[str]:
    """Every invalid value in ``cfg``, each naming the key, the value and what is allowed; a recipe option's
    problem names its file too, from ``choices`` (group -> option) where the caller knows them (a sweep's
    pre-flight), else from Hydra's."""
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
    return problems + recipe_problems(cfg, choices)


def option_file(cfg: DictConfig, group: str, choices: dict | None = None) -> str:
    """The option file a group's values come from (``mixup/mixup0.2.yaml``), as the user names it."""
    choices = choices if choices is not None else OmegaConf.select(cfg, "hydra.runtime.choices")
    if choices is None:
        from hydra.core.hydra_config import HydraConfig

        choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    choice = choices.get(group)
    return f"{group}/{choice}.yaml" if choice else f"the {group} option"


def recipe_problems(cfg: DictConfig, choices: dict | None = None) -> list[str]:
    """The values of timm's recipe (accumulation, lr_base rule, mixup, EMA, clipping, timm schedules) and the
    combinations that cannot train, each naming the option file and key that set it."""
    trainer, problems = cfg.trainer, []

    def expect(ok: bool, group: str, key: str, value, allowed: str) -> None:
        if not ok:
            problems.append(f"{option_file(cfg, group, choices)}: {key}={value!r}: {allowed}")

    def number(value, low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            (low < value if low_open else low <= value) and (value < high if high_open else value <= high)

    accum = trainer.get("grad_accum_steps", 1)
    expect(isinstance(accum, int) and not isinstance(accum, bool) and accum >= 1, "trainer",
           "trainer.grad_accum_steps", accum, "expected an integer >= 1")
    base_size = trainer.get("lr_base_size")
    expect(base_size is None or number(base_size, 0, low_open=True), "trainer", "trainer.lr_base_size", base_size,
           "expected null (lr as given) or the batch size optimizer.lr is meant for")
    expect(trainer.get("lr_base_scale", "auto") in LR_BASE_SCALES, "trainer", "trainer.lr_base_scale",
           trainer.get("lr_base_scale"), f"expected one of {', '.join(LR_BASE_SCALES)}")
    drop_path = trainer.get("drop_path_rate")
    expect(drop_path is None or number(drop_path, 0, 1, high_open=True), "regularization", "trainer.drop_path_rate",
           drop_path, "a probability: expected a number from 0 up to (not including) 1, or null")
    mixup = trainer.get("mixup")
    if mixup:
        for key in mixup:
            expect(key in MIXUP_KEYS, "mixup", f"trainer.mixup.{key}", mixup[key],
                   "label smoothing comes from the loss option" if key == "label_smoothing" else
                   f"not an argument of timm.data.Mixup; expected one of {', '.join(MIXUP_KEYS)}")
        for key in ("mixup_alpha", "cutmix_alpha"):
            expect(number(mixup.get(key, 0), 0), "mixup", f"trainer.mixup.{key}", mixup.get(key), "expected >= 0")
        for key in ("prob", "switch_prob"):
            expect(number(mixup.get(key, 0.5), 0, 1), "mixup", f"trainer.mixup.{key}", mixup.get(key),
                   "a probability: expected a number from 0 to 1")
        expect(mixup.get("mode", "batch") in MIXUP_MODES, "mixup", "trainer.mixup.mode", mixup.get("mode"),
               f"expected one of {', '.join(MIXUP_MODES)}")
        loss, mixup_file = str(cfg.loss_function.get("_target_", "")), option_file(cfg, "mixup", choices)
        if loss not in SOFT_TARGET_LOSSES:
            problems.append(f"{mixup_file} sets trainer.mixup: mixup trains on mixed (soft) targets, but "
                            f"{option_file(cfg, 'loss_function', choices)} sets loss_function._target_={loss!r}, "
                            "which needs hard labels; use a cross-entropy loss option with mixup, or mixup=none")
        if cfg.data.get("balance") == "loss":
            problems.append(f"{mixup_file} sets trainer.mixup, whose soft-target loss takes no class weights: "
                            "data.balance=loss cannot apply; use data.balance=sampler")
    ema = trainer.get("ema")
    if ema:
        for key in ema:
            expect(key in EMA_KEYS, "ema", f"trainer.ema.{key}", ema[key],
                   f"not an argument of timm.utils.ModelEmaV3; expected one of {', '.join(EMA_KEYS)}")
        expect(number(ema.get("decay"), 0, 1, True, True), "ema", "trainer.ema.decay", ema.get("decay"),
               "the EMA decay must lie strictly between 0 and 1 (timm's recipes: 0.999 to 0.9999)")
    clip = trainer.get("grad_clip")
    if clip:
        expect(number(clip.get("clip_grad"), 0, low_open=True), "grad_clip", "trainer.grad_clip.clip_grad",
               clip.get("clip_grad"), "expected a number > 0 (or grad_clip=none)")
        expect(clip.get("clip_mode", "norm") in CLIP_MODES, "grad_clip", "trainer.grad_clip.clip_mode",
               clip.get("clip_mode"), f"expected one of {', '.join(CLIP_MODES)}")
    problems += augmentation_problems(cfg.data.get("augmentation"), option_file(cfg, "augmentation", choices))
    lr_scheduler = cfg.scheduler.lr_scheduler
    timm_schedule = str(lr_scheduler.get("_target_", "")).endswith("create_scheduler_v2")
    if cfg.optimizer.get("layer_decay") is not None and not timm_schedule:
        problems.append(f"optimizer.layer_decay={cfg.optimizer.layer_decay!r}: timm's optimizer scales each layer's "
                        "rate by its lr_scale and only timm's schedulers apply it (torch's would train every layer at "
                        "one rate); use a timm schedule, e.g. scheduler_warmup=cosine_warmup")
    if timm_schedule:
        warmup_file = option_file(cfg, "scheduler_warmup", choices)
        group = "scheduler_warmup" if warmup_file.startswith("scheduler_warmup/") else "scheduler"
        expect(lr_scheduler.get("sched") in TIMM_SCHEDULES, group, "scheduler.lr_scheduler.sched",
               lr_scheduler.get("sched"), f"expected one of {', '.join(TIMM_SCHEDULES)}")
        expect(number(lr_scheduler.get("warmup_epochs", 0), 0), group, "scheduler.lr_scheduler.warmup_epochs",
               lr_scheduler.get("warmup_epochs"), "expected a number >= 0")
    return problems


def augmentation_problems(augmentation, where: str) -> list[str]:
    """The augmentation option's keys that timm's ``create_transform`` (or hpsweep's rotation) would refuse."""
    if augmentation is None:
        return []
    known = TIMM_AUGMENTATION_KEYS + OWN_AUGMENTATION_KEYS
    problems = [f"{where}: data.augmentation.{key}: not an argument of timm.data.create_transform nor hpsweep's "
                f"{'/'.join(OWN_AUGMENTATION_KEYS)}; expected one of {', '.join(known)}"
                for key in augmentation if key not in known]
    policy = augmentation.get("auto_augment")
    if policy is not None and str(policy).split("-")[0] not in AUTO_AUGMENT_KINDS:
        problems.append(f"{where}: data.augmentation.auto_augment={policy!r}: expected a timm policy: one of "
                        f"{', '.join(AUTO_AUGMENT_KINDS)}, alone or with its settings after dashes (e.g. "
                        "rand-m9-mstd0.5-inc1, augmix-m5-w4-d2, v0), or null")
    scale = augmentation.get("scale")
    if scale is not None and not (len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1):
        problems.append(f"{where}: data.augmentation.scale={list(scale)!r}: expected [low, high] with "
                        "0 < low <= high <= 1 (the fraction of the image a random crop keeps)")
    for key in ("hflip", "vflip", "re_prob", "gaussian_blur_prob", "grayscale_prob"):
        value = augmentation.get(key)
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            problems.append(f"{where}: data.augmentation.{key}={value!r}: a probability: expected 0 to 1")
    return problems


def config_warnings(cfg: DictConfig) -> list[str]:
    """What will run, but likely not as meant: a warmup as long as the run, a cosine period that is not the
    run's length. Nothing where the epochs are invalid: that error makes it moot, nor with ``trainer=external``,
    whose own script trains (hpsweep's scheduler does not run)."""
    if "command" in cfg.trainer.keys():
        return []
    scheduler = cfg.scheduler.lr_scheduler
    warmup, epochs = scheduler.get("warmup_epochs"), cfg.trainer.max_epochs
    if isinstance(warmup, (int, float)) and isinstance(epochs, int) and warmup >= epochs >= 1:
        return [f"scheduler.lr_scheduler.warmup_epochs={warmup} is not shorter than trainer.max_epochs={epochs}: "
                "the learning rate never reaches optimizer.lr; shorten the warmup or train longer"]
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
