"""The training loop, read top to bottom: build everything from the config, train, validate, stop early,
checkpoint every epoch. ``fit`` returns the fields of ``result.json`` that describe the training."""

import errno
import logging
import pickle
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.metrics import accuracy_score, f1_score
from tqdm import tqdm

from hpsweep.core.errors import CheckpointUnreadable, CheckpointUnusable, ConfigError, NonFiniteLossError, first_line
from hpsweep.core.metrics import stopping_rule
from hpsweep.core.records import (
    BEST_WEIGHTS_FILE,
    CHECKPOINT_FILE,
    HISTORY_FILE,
    PREDICTIONS_FILE,
    TEST_PROBABILITIES_FILE,
    VAL_PROBABILITIES_FILE,
    VAL_VIEWS_PROBABILITIES_FILE,
    History,
    set_aside,
    write_atomic,
)
from hpsweep.train import models
from hpsweep.train.early_stopping import EarlyStopping
from hpsweep.train.predictions import (
    distort,
    predict,
    write_predictions,
    write_probabilities,
)
from hpsweep.train.preemption import StopSignals
from hpsweep.train.recipe import Updates, build_mixup, build_updates, mixed, model_config, recipe_record
from hpsweep.train.tracking import Tracker

log = logging.getLogger(__name__)

NON_FINITE_CHECK_STEPS = 10  # a diverged run ends within this many steps; checking every step stalls GPUs
DIVERGED_HINT = "lower optimizer.lr, or try another loss_function or precision"
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def tta_scores(model, data, device, autocast: dict, memory_format, tta: list[str]) -> dict:
    """Validation accuracy and macro F1 with each prediction averaged over the image and its TTA views
    (``val_*_tta``), and over the distorted validation views as well (``val_*_distorted_tta``)."""
    probabilities, targets = predict(model, data.val_loader, device, autocast, memory_format, tta)
    scores = classification_scores(targets.numpy(), probabilities.argmax(dim=1).numpy(), data.num_classes, "_tta")
    if data.val_distortions:
        seen = [predict(model, data.val_loader, device, autocast, memory_format, tta, name)
                for name in data.val_distortions]
        scores |= classification_scores(torch.cat([labels for _, labels in seen]).numpy(),
                                        torch.cat([probs for probs, _ in seen]).argmax(dim=1).numpy(),
                                        data.num_classes, "_distorted_tta")
    return scores


def build_data(cfg: DictConfig):
    """The configured data set's loaders, normalised as the model's pretrained weights expect."""
    mean, std = models.input_normalization(cfg.model.name)
    # data.fingerprint says how hpsweep.core.provenance digests the files, not how to load them
    loaded = OmegaConf.masked_copy(cfg.data, [key for key in cfg.data if key != "fingerprint"])
    return instantiate(loaded, seed=cfg.seed, mean=mean, std=std)


def rng_states(generator: torch.Generator | None) -> dict:
    """Every RNG's state in forms ``torch.load(weights_only=True)`` reads back: tensors, numbers, tuples."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),  # (version, 625 ints, None or a float)
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "loader": generator.get_state() if generator is not None else None,
    }


def restore_rng_states(states: dict, generator: torch.Generator | None) -> None:
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    numpy = states["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["gauss"]))
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    if generator is not None and states["loader"] is not None:
        generator.set_state(states["loader"])


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
    device = resolve_device(cfg.trainer.device)
    precision = resolve_precision(cfg.trainer.precision, device)
    seed_everything(cfg.seed)
    data = build_data(cfg)
    model = models.create_model(model_config(cfg), num_classes=data.num_classes, image_size=cfg.data.image_size)
    memory_format = torch.channels_last if cfg.trainer.channels_last else torch.preserve_format
    model = model.to(device, memory_format=memory_format)
    forward = torch.compile(model) if cfg.trainer.compile else model  # weights are saved from `model`

    max_epochs = cfg.trainer.max_epochs
    steps_per_epoch = len(data.train_loader)
    rule = stopping_rule(cfg.early_stopping, cfg.data)  # monitor: auto -> the metric that decides
    optimizer, updates = build_updates(cfg, model, steps_per_epoch, device, precision, rule["mode"])
    scheduler = updates.schedule.scheduler
    # data.balance=loss: inverse-frequency class weights, for any loss taking `weight` (torch's, FocalLoss)
    balance = {"weight": data.class_weights()} if cfg.data.get("balance") == "loss" else {}
    mixup, criterion = build_mixup(cfg.trainer.get("mixup"), cfg.loss_function, data.num_classes)
    criterion = (criterion or instantiate(cfg.loss_function, **balance)).to(device)
    autocast = dict(device_type=device.type, dtype=AUTOCAST_DTYPES.get(precision), enabled=precision != "fp32")
    ema = updates.ema
    judged = ema.module if ema is not None else model  # validation, best weights and outputs follow the EMA
    evaluated = judged if ema is not None else forward  # `forward` may be compiled: its weights are `model`'s
    stopper = EarlyStopping(**rule)
    rules = {directory: EarlyStopping(**{**rule, **stopping})
             for directory, stopping in (answers or {}).items()}
    for directory in rules:
        directory.mkdir(parents=True, exist_ok=True)
    history = History(output_dir / HISTORY_FILE)
    checkpoint_path = output_dir / CHECKPOINT_FILE
    generator = data.train_loader.generator
    first_epoch = 1
    pruned = None  # the competition's reason to stop, if it prunes this job
    checkpoint = load_checkpoint(checkpoint_path)
    if checkpoint is not None and checkpoint["fingerprint"] == job_fingerprint:
        try:
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            updates.scaler.load_state_dict(checkpoint["scaler"])
            updates.count = checkpoint.get("updates", (checkpoint["epoch"]) * updates.per_epoch)
            if ema is not None:
                ema.load_state_dict(checkpoint["model_ema"])
            stopper.load_state_dict(checkpoint["early_stopping"])
            rules = resumed_rules(rules, checkpoint.get("answered_stopping", {}))
            restore_rng_states(checkpoint["rng"], generator)
        except (KeyError, RuntimeError, TypeError, ValueError) as error:  # states half loaded: start again clean
            set_aside(checkpoint_path, f"its states do not fit this training: {error}")
            raise CheckpointUnusable(f"{checkpoint_path} could not be restored ({type(error).__name__}); it was "
                                     "set aside: run the job again to train it from its first epoch") from error
        history.restore(checkpoint["history"])
        first_epoch = checkpoint["epoch"] + 1
        log.info("resuming from the checkpoint of epoch %d", checkpoint["epoch"])
    if competition is not None:  # the noise margin of pruning: how many predictions its metric counts
        views = len(data.val_distortions) if competition.metric.endswith("_distorted") else 1
        competition.observe(len(data.val_loader.dataset) * max(views, 1))
    log.info("training %s on %s (%s), %d train / %d val images, %d classes", cfg.model.name, device, precision,
             len(data.train_loader.dataset), len(data.val_loader.dataset), data.num_classes)

    start_lr = peak_lr = max([optimizer.param_groups[0]["lr"], *(row["lr"] for row in history.rows)])
    if first_epoch == 1:
        start_lr = optimizer.param_groups[0]["lr"]
    for epoch in range(first_epoch, max_epochs + 1):
        stop.check()  # a stop signal during the last validation: that epoch's checkpoint is saved
        # checked first, so a job resumed from its stopping epoch stops too
        if stopper.should_stop and all(rule.should_stop for rule in rules.values()):
            log.info("early stopping: no %s improvement in %d epochs", stopper.monitor, stopper.patience)
            break
        epoch_started = time.monotonic()
        if mixup is not None:  # train.py's mixup_off_epoch: mixup ends after that many epochs (0: never)
            mixup.mixup_enabled = not 0 < (cfg.trainer.mixup.get("mixup_off_epoch") or 0) < epoch
        train_loss, seen, epoch_peak_lr = train_epoch(forward, data.train_loader, criterion, updates, mixup, device,
                                                      memory_format, autocast, stop, f"epoch {epoch}/{max_epochs}",
                                                      cfg.trainer.progress_bar)
        lr = optimizer.param_groups[0]["lr"]  # the epoch's rate, before an epoch schedule moves it
        peak_lr = max(peak_lr, epoch_peak_lr)
        train_s = time.monotonic() - epoch_started

        val = evaluate(evaluated, data.val_loader, device, autocast, memory_format, data.num_classes,
                       data.val_distortions)
        row = {"epoch": epoch, "train_loss": train_loss, **val, "lr": lr,
               "train_images_per_s": round(seen / train_s, 1), "epoch_s": round(time.monotonic() - epoch_started, 3)}
        updates.schedule.after_epoch(epoch, row[stopper.monitor])
        own = not stopper.should_stop  # past its own stop, the epoch only serves the rules it answers
        improved = own and stopper.update(row[stopper.monitor], judged)
        for rule in rules.values():
            if not rule.should_stop:
                rule.update(row[rule.monitor], judged)
        check_claim()  # the epoch's writes follow
        history.append(row)
        if own:
            tracker.log_epoch(row, epoch)
        distorted = f" val_f1_distorted {val['val_f1_distorted']:.4f}" if "val_f1_distorted" in val else ""
        log.info("epoch %d/%d train_loss %.4f val_loss %.4f val_acc %.4f val_f1 %.4f%s lr %.3g%s", epoch, max_epochs,
                 train_loss, val["val_loss"], val["val_acc"], val["val_f1"], distorted, lr,
                 " (best)" if improved else "")
        if cfg.trainer.checkpoint:
            save_atomic({
                "fingerprint": job_fingerprint, "epoch": epoch, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "updates": updates.count,
                "scaler": updates.scaler.state_dict(), "early_stopping": stopper.state_dict(), "history": history.rows,
                **({"model_ema": ema.state_dict()} if ema is not None else {}),
                "rng": rng_states(generator),
                "answered_stopping": {str(directory): rule.state_dict() for directory, rule in rules.items()},
            }, checkpoint_path)
        if own and competition is not None and competition.metric in row:
            pruned = competition.report(epoch, row[competition.metric])
            if pruned:
                break

    def outputs(rule: EarlyStopping, directory: Path) -> tuple[dict, Path | None]:
        """A rule's best weights restored and written out with their view of the validation and test images;
        its metrics at its best epoch."""
        rule.restore_best(judged)
        if cfg.trainer.save_best_model:
            save_atomic(judged.state_dict(), directory / BEST_WEIGHTS_FILE)
        labels = data.prediction_labels or data.class_names
        # the best weights' view of every validation image: per-image comparisons between runs, ensembles
        probabilities, targets = predict(evaluated, data.val_loader, device, autocast, memory_format, [])
        write_probabilities(directory / VAL_PROBABILITIES_FILE, data.val_ids, probabilities, labels,
                            targets=[labels[target] for target in targets.tolist()])
        if data.val_distortions:  # and of every distorted view: paired tests of a distorted metric pair views
            seen = [predict(evaluated, data.val_loader, device, autocast, memory_format, [], name)
                    for name in data.val_distortions]
            write_probabilities(directory / VAL_VIEWS_PROBABILITIES_FILE,
                                [f"{image}@{name}" for name in data.val_distortions for image in data.val_ids],
                                torch.cat([probs for probs, _ in seen]), labels,
                                targets=[labels[target] for _, view in seen for target in view.tolist()])
        predictions, held_out = None, {}
        if data.test_loader is not None:
            predictions = directory / PREDICTIONS_FILE
            probabilities, test_targets = predict(evaluated, data.test_loader, device, autocast, memory_format,
                                                  list(cfg.trainer.tta))
            held_out = data.test_scores(probabilities, test_targets)  # a labelled test set: test_acc, test_f1
            write_predictions(predictions, data.test_ids, probabilities, labels, data.submission_columns)
            write_probabilities(directory / TEST_PROBABILITIES_FILE, data.test_ids, probabilities, labels,
                                id_column=data.submission_columns[0])
        best_row = history.rows[rule.best_epoch - 1]
        metrics = {key: value for key, value in best_row.items() if key.startswith("val_")}
        metrics |= {"best_epoch": rule.best_epoch, rule.monitor: rule.best_value} | held_out
        if cfg.trainer.tta:  # what test-time augmentation gains, measured on the validation images too
            metrics |= tta_scores(evaluated, data, device, autocast, memory_format, list(cfg.trainer.tta))
        return metrics, predictions

    check_claim()
    answered = {}
    for directory, rule in rules.items():
        metrics, predictions = outputs(rule, directory)
        answered[directory] = {"metrics": metrics, "predictions": str(predictions) if predictions else None,
                               "epochs_run": rule.epochs_seen, "stopped_early": rule.epochs_seen < max_epochs,
                               "history": history.rows[:rule.epochs_seen],
                               "pruned": None if rule.should_stop else pruned}  # pruned before its own stop
    metrics, predictions = outputs(stopper, output_dir)
    if predictions:
        tracker.log_file(predictions, kind="predictions")
    tracker.set_summary({key if key == "best_epoch" else f"best_{key}": value for key, value in metrics.items()})
    return {
        "metrics": metrics,
        "pruned": pruned,
        "resumed_from_epoch": first_epoch - 1 if first_epoch > 1 else None,
        "predictions": str(predictions) if predictions else None,
        "validation": data.validation,  # which images it validated on (hpsweep.data.splits.validation_record)
        "epochs_run": stopper.epochs_seen,
        "stopped_early": stopper.epochs_seen < max_epochs,
        "answered": answered,
        # what the allocator held at most (CUDA only): what pack-mates on one GPU must leave it (``hpsweep.sweep.fit``)
        "peak_memory_mb": round(torch.cuda.max_memory_reserved(device) / 2**20) if device.type == "cuda" else None,
        "setup": {
            "device": str(device),
            "precision": precision,
            "image_size": cfg.data.image_size,
            "batch_size": cfg.data.batch_size,
            "optimizer": type(optimizer).__name__,
            "scheduler": type(scheduler).__name__,
            "loss_function": type(criterion).__name__,
            "class_weights": [round(weight, 4) for weight in balance["weight"].tolist()] if balance else None,
            "balance": cfg.data.get("balance", "none"),
            "schedule": {"interval": cfg.scheduler.interval, "steps_per_epoch": steps_per_epoch,
                         "updates_per_epoch": updates.per_epoch, "updates": updates.count,
                         **updates.schedule.resolved(), "start_lr": start_lr, "peak_lr": peak_lr,
                         "final_lr": optimizer.param_groups[0]["lr"]},
            "recipe": recipe_record(cfg, mixup, ema, updates),
            "train_images": len(data.train_loader.dataset),
            "val_images": len(data.val_loader.dataset),
            "parameters": sum(p.numel() for p in model.parameters()),
        },
    }


def save_atomic(state: dict, path: Path) -> None:
    """``torch.save`` through a temporary file, so a kill or a full disk mid-write leaves the previous
    checkpoint intact (a failed write raises ``WriteFailed``, naming ``path``, and its temporary file is gone)."""
    def save(temporary: Path) -> None:
        try:
            torch.save(state, temporary)
        except RuntimeError as error:  # torch's writer says a failed write (a full disk) with a RuntimeError
            full = shutil.disk_usage(temporary.parent).free == 0
            raise OSError(errno.ENOSPC if full else errno.EIO, first_line(error)) from error

    write_atomic(path, save)


STARTS_OVER = "the training starts from epoch 1"  # what follows a checkpoint set aside
CHECKPOINT_KEYS = ("fingerprint", "epoch", "model", "optimizer", "scheduler", "scaler", "early_stopping", "history",
                   "rng")


def load_checkpoint(path: Path) -> dict | None:
    """The job's last checkpoint, or None where there is none or its content is unusable: cut short, garbage,
    without the states a training resumes from, or holding more than tensors and plain data (its own writer
    writes none: a file that needs a full unpickle could run whatever it names, so it is refused). Such a file
    is set aside and the training starts from its first epoch. One that cannot be read for a reason of the
    machine (an I/O error, a permission, memory) stays where it is, and the job fails with that reason."""
    if not path.is_file():
        return None
    try:  # on the CPU: the states move to the model's device as they load, and no GPU memory is needed here
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, MemoryError) as error:
        raise CheckpointUnreadable(f"{path} could not be read ({type(error).__name__}: {error}); it is kept: run "
                                   "the job again once it can be read, and it resumes from it") from error
    except Exception as error:  # cut short, empty, garbage, or more than tensors: torch raises one of several kinds
        refused = isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in str(error)
        set_aside(path, "it holds more than tensors and plain data: refused, not unpickled" if refused else
                  f"not a checkpoint that loads: {type(error).__name__}", then=STARTS_OVER)
        return None
    if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in CHECKPOINT_KEYS):
        set_aside(path, "a checkpoint without the states a training resumes from", then=STARTS_OVER)
        return None
    return checkpoint


@torch.inference_mode()
def evaluate(model, loader, device, autocast: dict, memory_format, num_classes: int,
             distortions: list[str] = ()) -> dict:
    """Validation loss, accuracy and macro F1 over ``loader``; with ``distortions``, the same over every image
    seen through each of them as well (``val_*_distorted``), the way damaged test images may look. The loss is
    plain cross-entropy whatever the training loss (timm's train.py validates so too): it compares across loss
    options, mixup and class weights."""
    model.eval()
    criterion = torch.nn.CrossEntropyLoss()
    views = {"": [None], "_distorted": list(distortions)} if distortions else {"": [None]}
    loss_sums = {suffix: torch.zeros((), device=device) for suffix in views}
    predictions = {suffix: [] for suffix in views}
    targets = {suffix: [] for suffix in views}
    generator = torch.Generator(device=device).manual_seed(0)  # the same noise every epoch
    for images, labels in loader:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        for suffix, names in views.items():
            for name in names:
                view = images if name is None else distort(name, images, generator)
                with torch.autocast(**autocast):
                    logits = model(view)
                loss_sums[suffix] += criterion(logits.float(), labels) * labels.size(0)
                predictions[suffix].append(logits.argmax(dim=1))
                targets[suffix].append(labels)
    scores = {}
    for suffix in views:
        predicted, target = torch.cat(predictions[suffix]).cpu().numpy(), torch.cat(targets[suffix]).cpu().numpy()
        scores |= {f"val_loss{suffix}": (loss_sums[suffix] / len(target)).item()} | classification_scores(
            target, predicted, num_classes, suffix)
    return scores


def classification_scores(target, predicted, num_classes: int, suffix: str = "") -> dict:
    """Accuracy and macro F1 (scikit-learn), named ``val_acc<suffix>`` and ``val_f1<suffix>``."""
    return {f"val_acc{suffix}": float(accuracy_score(target, predicted)),
            f"val_f1{suffix}": float(f1_score(target, predicted, average="macro", labels=list(range(num_classes)),
                                              zero_division=0))}
