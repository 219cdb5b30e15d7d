"""Early stopping on a monitored metric, keeping a copy of the best weights to restore at the end."""

import math

from torch import nn


class EarlyStopping:
    """Stop after ``patience`` epochs without an improvement of more than ``min_delta``.

    Usage: ``stopper.update(val_f1, model)`` once per epoch, break on ``stopper.should_stop``,
    then ``stopper.restore_best(model)``.
    """

    def __init__(self, monitor: str, mode: str, patience: int, min_delta: float = 0.0):
        if mode not in ("max", "min"):
            raise ValueError(f"early_stopping.mode={mode!r}: expected max or min")
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.best_value = -math.inf if mode == "max" else math.inf
        self.best_epoch = 0
        self.epochs_seen = 0
        self.best_state: dict | None = None

    def improved(self, value: float) -> bool:
        if self.mode == "max":
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def update(self, value: float, model: nn.Module) -> bool:
        """Record one epoch's monitored value; True (and a copy of the weights) when it is the best so far."""
        self.epochs_seen += 1
        if not self.improved(value):
            return False
        self.best_value = value
        self.best_epoch = self.epochs_seen
        self.best_state = {key: tensor.detach().clone() for key, tensor in model.state_dict().items()}
        return True

    @property
    def should_stop(self) -> bool:
        return self.epochs_seen - self.best_epoch >= self.patience

    def state_dict(self) -> dict:
        return {key: getattr(self, key) for key in ("best_value", "best_epoch", "epochs_seen", "best_state")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def restore_best(self, model: nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
