"""What ``fit`` builds from the config before its first epoch: the handles its named steps share."""

from dataclasses import dataclass

import torch

from hpsweep.train.recipe import Updates


@dataclass
class Parts:
    device: torch.device
    precision: str  # fp32 | bf16 | fp16
    data: object  # hpsweep.train.data.ImageData: loaders, class names, ids
    model: torch.nn.Module  # its weights are what is saved
    forward: torch.nn.Module  # the model, compiled where trainer.compile is set
    memory_format: torch.memory_format
    updates: Updates  # optimizer, schedule, scaler, EMA, accumulation and clipping
    mixup: object | None  # timm's Mixup, where trainer.mixup is set
    criterion: torch.nn.Module
    balance: dict  # {"weight": class weights} where data.balance=loss
    autocast: dict  # torch.autocast's arguments
    rule: dict  # the early-stopping rule (monitor: auto resolved)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.updates.optimizer

    @property
    def scheduler(self):
        return self.updates.schedule.scheduler

    @property
    def ema(self) -> torch.nn.Module | None:
        return self.updates.ema

    @property
    def judged(self) -> torch.nn.Module:
        """What validation, the best weights and the outputs follow: the EMA where there is one."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def evaluated(self) -> torch.nn.Module:
        """What runs the validation: the EMA's module, else ``forward`` (compiled, its weights ``model``'s)."""
        return self.judged if self.ema is not None else self.forward

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]
