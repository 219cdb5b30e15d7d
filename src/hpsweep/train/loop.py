"""The training loop, read top to bottom: build everything from the config, train, validate, stop early,
checkpoint every epoch. ``fit`` returns the fields of ``result.json`` that describe the training; its optional
parts (mixup, EMA, accumulation and clipping in ``recipe``; checkpoints in ``checkpoint``; pruning reports to its
competition; the answered trainings' stopping rules) are the named steps below it."""

import logging
import random
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from hpsweep.core.errors import CheckpointUnusable, ConfigError, NonFiniteLossError
from hpsweep.core.metrics import stopping_rule
from hpsweep.core.records import CHECKPOINT_FILE, HISTORY_FILE, History, set_aside
from hpsweep.train import models
from hpsweep.train.checkpoint import load_checkpoint, restore_rng_states, rng_states, save_atomic
from hpsweep.train.early_stopping import EarlyStopping
from hpsweep.train.evaluation import evaluate
from hpsweep.train.outputs import write_outputs
from hpsweep.train.parts import Parts
from hpsweep.train.preemption import StopSignals
from hpsweep.train.recipe import Updates, build_mixup, build_updates, mixed, model_config, recipe_record
from hpsweep.train.tracking import Tracker

log = logging.getLogger(__name__)

NON_FINITE_CHECK_STEPS = 10  # a diverged run ends within this many steps; checking every step stalls GPUs
DIVERGED_HINT = "lower optimizer.lr, or try another loss_function or precision"
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def fit(cfg: DictConfig, output_dir: Path, tracker: Tracker, job_fingerprint: str, stop: StopSignals,
        competition=None, answers: dict[Path, dict] | None = None, check_claim=lambda: None) -> dict:
    """The training loop. Returns the fields of ``result.json`` that describe the training.

    After every epoch it saves ``last_checkpoint.pt`` (everything needed to go on), so a killed or
    preempted job started again with the same config resumes from its last finished epoch; and reports its
    metric to ``competition`` (``hpsweep.sweep.studies``), which may prune it: it then ends early and keeps
    its checkpoint, so that a re-run without pruning can finish it.

    ``answers`` (directory -> early-stopping keys) are trainings that differ from this one only in when they
    stop (``hpsweep.sweep.trajectories``): the loop goes on until each of their rules has stopped too, and
    returns each one's fields under ``answered``, its outputs written into its directory.

    ``check_claim`` raises where another process has taken the training over: called before every epoch's
    writes and before the outputs, so that a job taken over writes nothing more. The checkpoint stays after the
    last epoch: the job removes it once ``result.json`` is written, so a kill in between loses no epoch.
    """
    parts = build(cfg)
    tracker.wait()  # W&B starts while the data and model are built, and must be done before loader workers fork
    max_epochs = cfg.trainer.max_epochs
    stopper = EarlyStopping(**parts.rule)
    rules = answered_rules(parts.rule, answers)
    history = History(output_dir / HISTORY_FILE)
    checkpoint_path = output_dir / CHECKPOINT_FILE
    first_epoch, rules = resume(parts, checkpoint_path, job_fingerprint, stopper, rules, history)
    if competition is not None:  # the noise margin of pruning: how many predictions its metric counts
        competition.observe(observations(parts.data, competition.metric))
    log.info("training %s on %s (%s), %d train / %d val images, %d classes", cfg.model.name, parts.device,
             parts.precision, len(parts.data.train_loader.dataset), len(parts.data.val_loader.dataset),
             parts.data.num_classes)

    peak_lr = max([parts.lr, *(row["lr"] for row in history.rows)])
    start_lr = parts.lr if first_epoch == 1 else peak_lr
    pruned = None  # the competition's reason to stop, if it prunes this job
    for epoch in range(first_epoch, max_epochs + 1):
        stop.check()  # a stop signal during the last validation: that epoch's checkpoint is saved
        # checked first, so a job resumed from its stopping epoch stops too
        if stopper.should_stop and all(rule.should_stop for rule in rules.values()):
            log.info("early stopping: no %s improvement in %d epochs", stopper.monitor, stopper.patience)
            break
        row, epoch_peak_lr = train_and_validate(parts, cfg.trainer, epoch, stop)
        peak_lr = max(peak_lr, epoch_peak_lr)
        parts.updates.schedule.after_epoch(epoch, row[stopper.monitor])
        own = not stopper.should_stop  # past its own stop, the epoch only serves the rules it answers
        improved = own and stopper.update(row[stopper.monitor], parts.judged)
        update_answered(rules, row, parts.judged)
        check_claim()  # the epoch's writes follow
        history.append(row)
        if own:
            tracker.log_epoch(row, epoch)
        log_epoch(row, max_epochs, improved)
        if cfg.trainer.checkpoint:
            save_atomic(checkpoint_state(parts, job_fingerprint, epoch, stopper, rules, history), checkpoint_path)
        if own and competition is not None and competition.metric in row:
            pruned = competition.report(epoch, row[competition.metric])
            if pruned:
                break

    check_claim()
    answered = {directory: answered_fields(parts, cfg.trainer, rule, directory, history, pruned)
                for directory, rule in rules.items()}
    metrics, predictions = write_outputs(parts, cfg.trainer, stopper, output_dir, history)
    if predictions:
        tracker.log_file(predictions, kind="predictions")
    tracker.set_summary({key if key == "best_epoch" else f"best_{key}": value for key, value in metrics.items()})
    return {
        "metrics": metrics,
        "pruned": pruned,
        "resumed_from_epoch": first_epoch - 1 if first_epoch > 1 else None,
        "predictions": str(predictions) if predictions else None,
        "validation": parts.data.validation,  # which images it validated on (hpsweep.data.splits.validation_record)
        "epochs_run": stopper.epochs_seen,
        "stopped_early": stopper.epochs_seen < max_epochs,
        "answered": answered,
        # what the allocator held at most (CUDA only): what pack-mates on one GPU must leave it (``hpsweep.sweep.fit``)
        "peak_memory_mb": round(torch.cuda.max_memory_reserved(parts.device) / 2**20)
        if parts.device.type == "cuda" else None,
        "setup": setup_record(parts, cfg, start_lr, peak_lr),
    }


def build(cfg: DictConfig) -> Parts:
    """Everything the loop trains with, from the config: device and precision, data, model, the recipe's updates
    (optimizer, schedule, EMA, accumulation, clipping), mixup and the loss."""
    device = resolve_device(cfg.trainer.device)
    precision = resolve_precision(cfg.trainer.precision, device)
    seed_everything(cfg.seed)
    data = build_data(cfg)
    model = models.create_model(model_config(cfg), num_classes=data.num_classes, image_size=cfg.data.image_size)
    memory_format = torch.channels_last if cfg.trainer.channels_last else torch.preserve_format
    model = model.to(device, memory_format=memory_format)
    forward = torch.compile(model) if cfg.trainer.compile else model  # weights are saved from `model`
    rule = stopping_rule(cfg.early_stopping, cfg.data)  # monitor: auto -> the metric that decides
    _, updates = build_updates(cfg, model, len(data.train_loader), device, precision, rule["mode"])
    # data.balance=loss: inverse-frequency class weights, for any loss taking `weight` (torch's, FocalLoss)
    balance = {"weight": data.class_weights()} if cfg.data.get("balance") == "loss" else {}
    mixup, criterion = build_mixup(cfg.trainer.get("mixup"), cfg.loss_function, data.num_classes)
    criterion = (criterion or instantiate(cfg.loss_function, **balance)).to(device)
    autocast = dict(device_type=device.type, dtype=AUTOCAST_DTYPES.get(precision), enabled=precision != "fp32")
    return Parts(device, precision, data, model, forward, memory_format, updates, mixup, criterion, balance,
                 autocast, rule)


def train_and_validate(parts: Parts, trainer: DictConfig, epoch: int, stop: StopSignals) -> tuple[dict, float]:
    """One epoch: a pass over the training images, then the validation; its row of the history, and the highest
    lr it used."""
    epoch_started = time.monotonic()
    if parts.mixup is not None:  # train.py's mixup_off_epoch: mixup ends after that many epochs (0: never)
        parts.mixup.mixup_enabled = not 0 < (trainer.mixup.get("mixup_off_epoch") or 0) < epoch
    train_loss, seen, peak_lr = train_epoch(parts.forward, parts.data.train_loader, parts.criterion, parts.updates,
                                            parts.mixup, parts.device, parts.memory_format, parts.autocast, stop,
                                            f"epoch {epoch}/{trainer.max_epochs}", trainer.progress_bar)
    lr = parts.lr  # the epoch's rate, before an epoch schedule moves it
    train_s = time.monotonic() - epoch_started
    val = evaluate(parts.evaluated, parts.data.val_loader, parts.device, parts.autocast, parts.memory_format,
                   parts.data.num_classes, parts.data.val_distortions)
    return {"epoch": epoch, "train_loss": train_loss, **val, "lr": lr, "train_images_per_s": round(seen / train_s, 1),
            "epoch_s": round(time.monotonic() - epoch_started, 3)}, peak_lr


def train_epoch(forward, loader, criterion, updates: Updates, mixup, device, memory_format, autocast: dict,
                stop: StopSignals, description: str, progress_bar: bool) -> tuple[float, int, float]:
    """One pass over the training images: the mean training loss, the images seen, the highest lr used."""
    updates.model.train()
    loss_sum = torch.zeros((), device=device)  # summed on the device: no host sync per step
    seen, peak_lr = 0, 0.0
    progress = tqdm(loader, desc=description, leave=False,
                    disable=None if progress_bar else True)  # None: only on a terminal
    for step, (images, labels) in enumerate(progress, start=1):
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        targets = labels
        if mixup is not None:
            images, targets = mixed(mixup, images, labels)
        with torch.autocast(**autocast):
            loss = criterion(forward(images), targets)
        peak_lr = max(peak_lr, updates.optimizer.param_groups[0]["lr"])  # a Python float: no device sync
        updates.backward(loss, step)
        loss_sum += loss.detach() * len(images)
        seen += len(images)
        if step % NON_FINITE_CHECK_STEPS == 0 and not torch.isfinite(loss_sum):  # one host sync per N steps
            raise NonFiniteLossError(f"train loss became {loss_sum.item()} at step {step} of {description}: "
                                     f"the run diverged ({DIVERGED_HINT})")
        stop.check()  # SLURM kills the job KillWait (often 30) seconds after its SIGTERM
    train_loss = (loss_sum / seen).item()  # the epoch's one host sync: the caller's timing is honest
    if not np.isfinite(train_loss):
        raise NonFiniteLossError(f"train loss became {train_loss} in {description}: the run diverged "
                                 f"({DIVERGED_HINT})")
    return train_loss, seen, peak_lr


def log_epoch(row: dict, max_epochs: int, improved: bool) -> None:
    distorted = f" val_f1_distorted {row['val_f1_distorted']:.4f}" if "val_f1_distorted" in row else ""
    log.info("epoch %d/%d train_loss %.4f val_loss %.4f val_acc %.4f val_f1 %.4f%s lr %.3g%s", row["epoch"],
             max_epochs, row["train_loss"], row["val_loss"], row["val_acc"], row["val_f1"], distorted, row["lr"],
             " (best)" if improved else "")


def observations(data, metric: str) -> int:
    """The predictions a validation metric counts: each image once, or once per distorted view."""
    views = len(data.val_distortions) if metric.endswith("_distorted") else 1
    return len(data.val_loader.dataset) * max(views, 1)


# --- the answered trainings: rules that differ from this one's only in when they stop ---------------------------

def answered_rules(rule: dict, answers: dict[Path, dict] | None) -> dict[Path, EarlyStopping]:
    """One early-stopping rule per answered training (its own patience and min_delta), its directory made."""
    rules = {directory: EarlyStopping(**{**rule, **stopping}) for directory, stopping in (answers or {}).items()}
    for directory in rules:
        directory.mkdir(parents=True, exist_ok=True)
    return rules


def update_answered(rules: dict[Path, EarlyStopping], row: dict, judged: torch.nn.Module) -> None:
    """The epoch's score for each answered training's rule that has not stopped yet."""
    for rule in rules.values():
        if not rule.should_stop:
            rule.update(row[rule.monitor], judged)


def answered_fields(parts: Parts, trainer: DictConfig, rule: EarlyStopping, directory: Path, history: History,
                    pruned: dict | None) -> dict:
    """An answered training's fields of ``result.json``, its outputs written into its directory."""
    metrics, predictions = write_outputs(parts, trainer, rule, directory, history)
    return {"metrics": metrics, "predictions": str(predictions) if predictions else None,
            "epochs_run": rule.epochs_seen, "stopped_early": rule.epochs_seen < trainer.max_epochs,
            "history": history.rows[:rule.epochs_seen],
            "pruned": None if rule.should_stop else pruned}  # pruned before its own stop


def resumed_rules(rules: dict[Path, EarlyStopping], states: dict[str, dict]) -> dict[Path, EarlyStopping]:
    """The answered rules a checkpoint can go on with: each from its saved state. One the checkpoint did not
    follow missed the epochs before it (its best weights among them): it is not answered from this trajectory,
    and trains on its own when the sweep runs again."""
    kept = {}
    for directory, rule in rules.items():
        if str(directory) in states:
            rule.load_state_dict(states[str(directory)])
            kept[directory] = rule
        else:
            log.warning("%s is not answered from this trajectory: its checkpoint did not follow it", directory)
    return kept


# --- checkpoints ------------------------------------------------------------------------------------------------

def resume(parts: Parts, path: Path, job_fingerprint: str, stopper: EarlyStopping, rules: dict[Path, EarlyStopping],
           history: History) -> tuple[int, dict[Path, EarlyStopping]]:
    """Go on from this training's checkpoint, if it has one: every state restored. The first epoch to train, and
    the answered rules the checkpoint followed."""
    checkpoint = load_checkpoint(path)
    if checkpoint is None or checkpoint["fingerprint"] != job_fingerprint:
        return 1, rules
    updates = parts.updates
    try:
        parts.model.load_state_dict(checkpoint["model"])
        parts.optimizer.load_state_dict(checkpoint["optimizer"])
        parts.scheduler.load_state_dict(checkpoint["scheduler"])
        updates.scaler.load_state_dict(checkpoint["scaler"])
        updates.count = checkpoint.get("updates", (checkpoint["epoch"]) * updates.per_epoch)
        if parts.ema is not None:
            parts.ema.load_state_dict(checkpoint["model_ema"])
        stopper.load_state_dict(checkpoint["early_stopping"])
        rules = resumed_rules(rules, checkpoint.get("answered_stopping", {}))
        restore_rng_states(checkpoint["rng"], parts.data.train_loader.generator)
    except (KeyError, RuntimeError, TypeError, ValueError) as error:  # states half loaded: start again clean
        set_aside(path, f"its states do not fit this training: {error}")
        raise CheckpointUnusable(f"{path} could not be restored ({type(error).__name__}); it was "
                                 "set aside: run the job again to train it from its first epoch") from error
    history.restore(checkpoint["history"])
    log.info("resuming from the checkpoint of epoch %d", checkpoint["epoch"])
    return checkpoint["epoch"] + 1, rules


def checkpoint_state(parts: Parts, job_fingerprint: str, epoch: int, stopper: EarlyStopping,
                     rules: dict[Path, EarlyStopping], history: History) -> dict:
    """Everything needed to go on after ``epoch``."""
    return {
        "fingerprint": job_fingerprint, "epoch": epoch, "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(), "scheduler": parts.scheduler.state_dict(),
        "updates": parts.updates.count, "scaler": parts.updates.scaler.state_dict(),
        "early_stopping": stopper.state_dict(), "history": history.rows,
        **({"model_ema": parts.ema.state_dict()} if parts.ema is not None else {}),
        "rng": rng_states(parts.data.train_loader.generator),
        "answered_stopping": {str(directory): rule.state_dict() for directory, rule in rules.items()},
    }


# --- what the loop is built from, and the record of it ------------------------------------------------------------

def resolve_device(requested: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error, not a silent CPU run.

    A job trains on the first GPU it sees: the sweeper's work queue gives each parallel job its own
    (``CUDA_VISIBLE_DEVICES``), as SLURM does.
    """
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError(["trainer.device='cuda': no CUDA device is visible; use trainer.device=auto or cpu"])
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", 0)


def resolve_precision(requested: str, device: torch.device) -> str:
    """``auto`` -> bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    if requested == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if requested == "fp16" and device.type != "cuda":
        raise ConfigError(["trainer.precision='fp16' needs a CUDA device (GradScaler); use bf16 or fp32 on CPU"])
    return requested


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_data(cfg: DictConfig):
    """The configured data set's loaders, normalised and resized as the model's pretrained weights expect."""
    # data.fingerprint says how hpsweep.core.provenance digests the files, not how to load them
    loaded = OmegaConf.masked_copy(cfg.data, [key for key in cfg.data if key != "fingerprint"])
    return instantiate(loaded, seed=cfg.seed, **models.data_arguments(cfg.data, cfg.model.name))


def setup_record(parts: Parts, cfg: DictConfig, start_lr: float, peak_lr: float) -> dict:
    """``result.json``'s ``setup``: what the training ran with, as it took effect."""
    data, updates = parts.data, parts.updates
    return {
        "device": str(parts.device),
        "precision": parts.precision,
        "image_size": cfg.data.image_size,
        "batch_size": cfg.data.batch_size,
        "optimizer": type(parts.optimizer).__name__,
        "scheduler": type(parts.scheduler).__name__,
        "loss_function": type(parts.criterion).__name__,
        "class_weights": [round(weight, 4) for weight in parts.balance["weight"].tolist()] if parts.balance else None,
        "balance": cfg.data.get("balance", "none"),
        "schedule": {"interval": cfg.scheduler.interval, "steps_per_epoch": len(data.train_loader),
                     "updates_per_epoch": updates.per_epoch, "updates": updates.count,
                     **updates.schedule.resolved(), "start_lr": start_lr, "peak_lr": peak_lr,
                     "final_lr": parts.lr},
        "recipe": recipe_record(cfg, parts.mixup, parts.ema, updates),
        "train_images": len(data.train_loader.dataset),
        "val_images": len(data.val_loader.dataset),
        "parameters": sum(p.numel() for p in parts.model.parameters()),
    }
