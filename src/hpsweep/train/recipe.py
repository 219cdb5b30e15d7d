"""timm's training recipe as the loop's named steps: the optimizer (with timm's lr_base rule), the lr schedule
(torch's or timm's, each stepped as it expects), Mixup/CutMix, model EMA, and one optimizer update per
``grad_accum_steps`` batches with gradient clipping, as timm's ``train.py`` does them."""

import inspect
import math
from dataclasses import dataclass

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

TIMM_SCHEDULER_FACTORY = "create_scheduler_v2"


def scaled_lr(lr: float, batch_size: int, grad_accum_steps: int, lr_base_size: int | None, scale: str,
              opt: str = "") -> float:
    """timm's ``lr_base`` rule: ``lr`` is the rate at a batch of ``lr_base_size``; the run's rate follows the
    effective batch (batch x accumulation), linearly, or by its square root for adaptive optimizers (``auto``).
    ``lr_base_size: null`` leaves ``lr`` as given."""
    if not lr_base_size:
        return lr
    ratio = batch_size * grad_accum_steps / lr_base_size
    if scale == "auto":
        scale = "sqrt" if any(name in opt.lower() for name in ("ada", "lamb")) else "linear"
    if scale == "sqrt":
        return lr * math.sqrt(ratio)
    if scale == "linear":
        return lr * ratio
    raise ValueError(f"trainer.lr_base_scale={scale!r}: expected auto, linear or sqrt")


def build_optimizer(optimizer_cfg: DictConfig, model: torch.nn.Module,
                    lr: float | None = None) -> torch.optim.Optimizer:
    """Instantiate the optimizer: factories that take the model (timm's ``create_optimizer_v2``, which
    keeps weight decay off norms and biases) get the model; torch optimizer classes get its parameters.
    ``lr`` replaces the option's rate (the lr_base rule's)."""
    factory = instantiate(optimizer_cfg, **({"lr": lr} if lr is not None else {}))
    first_parameter = next(iter(inspect.signature(factory.func).parameters))
    return factory(model if first_parameter == "model_or_params" else model.parameters())


def model_config(cfg: DictConfig) -> DictConfig:
    """The model's config with the regularization category's ``drop_path_rate`` among its ``create_model``
    arguments. It is kept out of the model node so that an option compares with its base the same way for
    every model (``hpsweep matrix`` compares options without the model)."""
    if cfg.trainer.get("drop_path_rate") is None:
        return cfg.model
    model = OmegaConf.create(OmegaConf.to_container(cfg.model, resolve=True))  # not struct: a key may be added
    model.create_kwargs = {**(model.create_kwargs or {}), "drop_path_rate": cfg.trainer.drop_path_rate}
    return model


def is_timm_factory(lr_scheduler_cfg: DictConfig) -> bool:
    return str(lr_scheduler_cfg.get("_target_", "")).endswith(TIMM_SCHEDULER_FACTORY)


def build_scheduler(scheduler_cfg: DictConfig, optimizer: torch.optim.Optimizer, total_steps: int,
                    max_epochs: int | None = None, plateau_mode: str = "max"):
    """Instantiate the LR scheduler. A null length spans the run: ``total_steps`` (OneCycleLR) its updates,
    ``T_max`` (cosine) its epochs or updates, and timm's ``num_epochs`` its epochs less the cooldown (timm
    adds the cooldown after the schedule). timm's schedulers update per update where ``interval: step``."""
    lr_scheduler = scheduler_cfg.lr_scheduler
    if is_timm_factory(lr_scheduler):
        epochs = max_epochs if max_epochs is not None else total_steps
        overrides = {"step_on_epochs": scheduler_cfg.interval == "epoch",
                     "updates_per_epoch": max(1, total_steps // epochs)}
        if lr_scheduler.get("num_epochs") is None:
            overrides["num_epochs"] = epochs - (lr_scheduler.get("cooldown_epochs") or 0)
        if lr_scheduler.get("plateau_mode") is None:  # a plateau follows the early-stopping metric's direction
            overrides["plateau_mode"] = plateau_mode
        scheduler, _ = instantiate(lr_scheduler, **overrides)(optimizer)
        return scheduler
    overrides = {}
    if "total_steps" in lr_scheduler and lr_scheduler.total_steps is None:
        overrides["total_steps"] = total_steps
    if "T_max" in lr_scheduler and lr_scheduler.T_max is None:
        overrides["T_max"] = total_steps if scheduler_cfg.interval == "step" or max_epochs is None else max_epochs
    return instantiate(lr_scheduler, **overrides)(optimizer)


class Schedule:
    """Steps a torch scheduler once per epoch or per update (its ``interval``), and a timm scheduler as timm's
    ``train.py`` does: ``step_update`` after every update and ``step`` after every epoch (each acts only on its
    own interval), with the monitored metric for a plateau schedule."""

    def __init__(self, scheduler, interval: str):
        from timm.scheduler.scheduler import Scheduler

        self.scheduler, self.interval = scheduler, interval
        self.is_timm = isinstance(scheduler, Scheduler)

    def after_update(self, updates: int) -> None:
        if self.is_timm:
            self.scheduler.step_update(updates)
        elif self.interval == "step":
            self.scheduler.step()

    def after_epoch(self, epoch: int, metric: float) -> None:
        if self.is_timm:
            self.scheduler.step(epoch, metric)  # the epochs done: timm's train.py steps epoch index + 1
        elif self.interval == "epoch":
            self.scheduler.step()

    def resolved(self) -> dict:
        """The schedule's length as it took effect, for the record."""
        keys = ("t_initial", "warmup_t", "warmup_lr_init", "lr_min", "t_in_epochs") if self.is_timm else \
            ("total_steps", "T_max")
        return {key: getattr(self.scheduler, key) for key in keys if hasattr(self.scheduler, key)}


def build_mixup(mixup_cfg: DictConfig | None, loss_cfg: DictConfig, num_classes: int):
    """timm's Mixup from the option's ``Mixup`` arguments, and the soft-target loss it trains with; None where
    mixup is off. The loss option's label smoothing moves into Mixup (which smooths the mixed targets), so a
    mixup row differs from the base in mixup alone; timm's BinaryCrossEntropy takes soft targets and stays."""
    if not mixup_cfg:
        return None, None
    from timm.data import Mixup
    from timm.loss import SoftTargetCrossEntropy

    arguments = OmegaConf.to_container(mixup_cfg, resolve=True)
    arguments.pop("mixup_off_epoch", None)
    if str(loss_cfg.get("_target_", "")).endswith("BinaryCrossEntropy"):
        criterion = instantiate(loss_cfg)
    else:
        criterion = SoftTargetCrossEntropy()
    smoothing = loss_cfg.get("label_smoothing") or loss_cfg.get("smoothing") or 0.0
    return Mixup(**arguments, label_smoothing=smoothing, num_classes=num_classes), criterion


def mixed(mixup, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch through Mixup, which pairs images: an odd batch (the epoch's last) leaves its last image out,
    where timm's loader drops the whole last batch. Past ``mixup_off_epoch`` the images stay as they are and
    the soft-target loss gets Mixup's (smoothed) one-hot targets."""
    if not mixup.mixup_enabled:
        from timm.data.mixup import mixup_target

        return images, mixup_target(labels, mixup.num_classes, 1.0, mixup.label_smoothing)
    if len(images) % 2:
        images, labels = images[:-1], labels[:-1]
    return mixup(images, labels)


def build_ema(ema_cfg: DictConfig | None, model: torch.nn.Module):
    """timm's ModelEmaV3 over ``model`` from the option's arguments (``decay``, ``use_warmup``, ...); None where
    EMA is off."""
    if not ema_cfg:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, **OmegaConf.to_container(ema_cfg, resolve=True))


@dataclass
class Updates:
    """Backward every batch, an optimizer update every ``accum_steps`` batches (and at the epoch's end), as
    timm's ``train.py``: each batch's loss is divided by the batches of its update, the gradients are unscaled
    before clipping under fp16, then the EMA and the schedule follow the update."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    schedule: Schedule
    steps_per_epoch: int
    accum_steps: int = 1
    clip_grad: float | None = None
    clip_mode: str = "norm"
    ema: torch.nn.Module | None = None
    count: int = 0  # updates so far, over all epochs: timm's num_updates

    @property
    def per_epoch(self) -> int:
        return math.ceil(self.steps_per_epoch / self.accum_steps)

    def backward(self, loss: torch.Tensor, step: int) -> None:
        """``step`` counts the epoch's batches from 1."""
        last_group_start = (self.per_epoch - 1) * self.accum_steps + 1
        batches = self.steps_per_epoch - last_group_start + 1 if step >= last_group_start else self.accum_steps
        self.scaler.scale(loss / batches).backward()
        if step % self.accum_steps == 0 or step == self.steps_per_epoch:
            self.update()

    def update(self) -> None:
        if self.clip_grad is not None:
            from timm.models import model_parameters
            from timm.utils import dispatch_clip_grad

            self.scaler.unscale_(self.optimizer)  # a no-op unless fp16 scales the gradients
            # agc compares each weight with its gradient; timm's train.py leaves the classifier head out of it
            dispatch_clip_grad(model_parameters(self.model, exclude_head="agc" in self.clip_mode), self.clip_grad,
                               mode=self.clip_mode)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.count += 1
        if self.ema is not None:
            self.ema.update(self.model, step=self.count)
        self.schedule.after_update(self.count)


def build_updates(cfg: DictConfig, model: torch.nn.Module, steps_per_epoch: int, device: torch.device,
                  precision: str, monitor_mode: str) -> tuple[torch.optim.Optimizer, Updates]:
    """The optimizer (its lr by timm's lr_base rule where asked), the schedule over the run's updates, the EMA,
    and how each update is made: accumulation, clipping, fp16's scaler."""
    trainer = cfg.trainer
    accum_steps = trainer.get("grad_accum_steps", 1)
    lr = scaled_lr(cfg.optimizer.lr, cfg.data.batch_size, accum_steps, trainer.get("lr_base_size"),
                   trainer.get("lr_base_scale", "auto"), str(cfg.optimizer.get("opt", "")))
    optimizer = build_optimizer(cfg.optimizer, model, lr)
    updates_per_epoch = math.ceil(steps_per_epoch / accum_steps)
    scheduler = build_scheduler(cfg.scheduler, optimizer, trainer.max_epochs * updates_per_epoch, trainer.max_epochs,
                                plateau_mode=monitor_mode)
    clip = trainer.get("grad_clip") or {}
    return optimizer, Updates(model, optimizer, torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
                              Schedule(scheduler, cfg.scheduler.interval), steps_per_epoch, accum_steps,
                              clip.get("clip_grad"), clip.get("clip_mode", "norm"),
                              build_ema(trainer.get("ema"), model))


def recipe_record(cfg: DictConfig, mixup, ema, updates: Updates) -> dict:
    """What of timm's recipe took effect, for result.json."""
    return {"grad_accum_steps": updates.accum_steps, "clip_grad": updates.clip_grad,
            "clip_mode": updates.clip_mode if updates.clip_grad is not None else None,
            "mixup": OmegaConf.to_container(cfg.trainer.mixup) if mixup is not None else None,
            "ema": OmegaConf.to_container(cfg.trainer.ema) if ema is not None else None}
