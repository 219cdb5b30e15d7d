"""The metrics a training records, which way each is better, and what ``early_stopping.monitor: auto`` stands
for: the one place that says which metric decides by default, and why.

A data set's test images may not look like its validation images (rotated, flipped, blurred scans).
``data.val_distortions`` scores validation on such views too (``val_*_distorted``); when it is set, those views
are what the test will show, so they decide, unless the user chose a monitor or ``hydra.sweeper.metric``.
Only omegaconf here: the sweeper and ``hpsweep summary`` use it without importing torch.
"""

from omegaconf import DictConfig

MONITORS = ("auto", "val_f1", "val_acc", "val_loss", "train_loss", "val_f1_distorted", "val_acc_distorted",
            "val_loss_distorted")
MODES = ("auto", "max", "min")
DISTORTED = "_distorted"


def direction(metric: str) -> str:
    """``min`` for a loss, else ``max``."""
    return "min" if "loss" in metric else "max"


def value_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: a loss is >= 0, a rate (F1, accuracy) lies in [0, 1]; another app's
    return value, anything."""
    if "loss" in metric:
        return 0.0, float("inf")
    if "f1" in metric or "acc" in metric:
        return 0.0, 1.0
    return float("-inf"), float("inf")


def is_per_view(metric: str) -> bool:
    """Whether the metric counts every distorted view of every validation image (paired tests then pair views)."""
    return DISTORTED in metric


def monitor(early_stopping: DictConfig, data: DictConfig | None) -> tuple[str, str, str]:
    """(metric, mode, why) early stopping follows: ``auto`` is ``val_f1_distorted`` where ``data.val_distortions``
    is set, else ``val_f1``; a mode of ``auto`` follows the metric."""
    distortions = list((data or {}).get("val_distortions") or [])
    metric, why = early_stopping.monitor, "early_stopping.monitor"
    if metric == "auto":
        metric = "val_f1" + (DISTORTED if distortions else "")
        why = (f"data.val_distortions={distortions} is set: the views the test will show decide "
               "(hydra.sweeper.metric=val_f1 decides on the plain views)") if distortions else \
            "macro F1 on the validation images (early_stopping.monitor: auto, no data.val_distortions)"
    mode = early_stopping.mode
    return metric, direction(metric) if mode == "auto" else mode, why


def stopping_rule(early_stopping: DictConfig, data: DictConfig | None) -> dict:
    """The early-stopping config with its monitor and mode resolved: ``EarlyStopping(**stopping_rule(...))``."""
    metric, mode, _ = monitor(early_stopping, data)
    return {**early_stopping, "monitor": metric, "mode": mode}
