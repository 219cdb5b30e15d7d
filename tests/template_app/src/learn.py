"""The template app's 'training': logistic regression by gradient descent on two Gaussian blobs, in numpy, so a
sweep of it takes well under a second per job. ``trainer.strategy=spawn`` splits each step's gradient over
``trainer.devices`` spawned processes, as a DDP-spawn trainer does."""

import json
import logging
import multiprocessing
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class SGD:
    """Plain or momentum gradient descent: what ``model.optimizer`` instantiates (``_partial_``)."""

    def __init__(self, weights: np.ndarray, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.weights, self.lr, self.momentum, self.weight_decay = weights, lr, momentum, weight_decay
        self.velocity = np.zeros_like(weights)

    def step(self, gradient: np.ndarray, scale: float) -> None:
        self.velocity = self.momentum * self.velocity + gradient + self.weight_decay * self.weights
        self.weights -= self.lr * scale * self.velocity


def blobs(n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_samples)
    points = rng.normal(0, noise, (n_samples, 2)) + np.where(labels[:, None] == 1, 1.0, -1.0)
    return np.hstack([points, np.ones((n_samples, 1))]), labels


def gradient(weights: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    predicted = 1 / (1 + np.exp(-points @ weights))
    return points.T @ (predicted - labels) / len(labels)


def loss_and_accuracy(weights: np.ndarray, points: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    predicted = np.clip(1 / (1 + np.exp(-points @ weights)), 1e-9, 1 - 1e-9)
    loss = -np.mean(labels * np.log(predicted) + (1 - labels) * np.log(1 - predicted))
    return float(loss), float(np.mean((predicted > 0.5) == labels))


def fit(cfg, optimizer_factory, schedule, checkpoint_dir: Path, output_dir: Path) -> dict[str, float]:
    points, labels = blobs(cfg.data.n_samples, cfg.data.noise, cfg.seed)
    split = int(len(labels) * 0.8)
    train, val = (points[:split], labels[:split]), (points[split:], labels[split:])
    optimizer = optimizer_factory(np.zeros(points.shape[1]))
    pool = multiprocessing.get_context("spawn").Pool(cfg.trainer.devices) if cfg.trainer.strategy == "spawn" else None
    best, history = {"val/loss": float("inf")}, []
    try:
        for epoch in range(cfg.trainer.max_epochs):
            for start in range(0, split, cfg.data.batch_size):
                batch = (train[0][start:start + cfg.data.batch_size], train[1][start:start + cfg.data.batch_size])
                if pool is None:
                    step = gradient(optimizer.weights, *batch)
                else:  # each process a shard of the batch, as DDP's ranks; their mean is the batch's gradient
                    shards = np.array_split(np.arange(len(batch[1])), cfg.trainer.devices)
                    parts = pool.starmap(gradient, [(optimizer.weights, batch[0][s], batch[1][s]) for s in shards])
                    step = sum(part * len(s) for part, s in zip(parts, shards, strict=True)) / len(batch[1])
                optimizer.step(step, schedule.factor(epoch))
            val_loss, val_acc = loss_and_accuracy(optimizer.weights, *val)
            history.append({"epoch": epoch, "val/loss": val_loss, "val/acc": val_acc})
            log.info("epoch %d val/loss %.4f val/acc %.4f", epoch, val_loss, val_acc)
            if val_loss < best["val/loss"]:
                best = {"val/loss": val_loss, "val/acc": val_acc, "epoch": epoch}
                checkpoint_dir.mkdir(parents=True, exist_ok=True)
                (checkpoint_dir / f"{cfg.callbacks.model_checkpoint.filename}.json").write_text(
                    json.dumps({"epoch": epoch, "weights": optimizer.weights.tolist()}))
            elif epoch - best["epoch"] >= cfg.callbacks.early_stopping.patience:
                break
    finally:
        if pool is not None:
            pool.close()
    (output_dir / "metrics.json").write_text(json.dumps({"history": history, "best": best}, indent=1))
    return {"val/loss": best["val/loss"], "val/acc": best["val/acc"], "val/acc_best": best["val/acc"]}
