"""Loop overhead: images/s of hpsweep's training loop against a minimal hand-written torch loop.

    python benchmarks/loop_overhead.py [--model test_resnet] [--image-size 64] [--batch-size 32]

Both train the same timm model on the same DataLoader with the same optimizer, batch size, precision and
memory format (hpsweep's default channels_last), in this process, alternating; the first epoch of each
is warm-up and not counted. hpsweep's figure is the training pass alone (``train_images_per_s`` in its
history.csv), as the minimal loop's is.
"""

import argparse
import csv
import logging
import os
import statistics
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path

import timm
import torch
from hydra.core.hydra_config import HydraConfig
from timm.optim import create_optimizer_v2

from hpsweep.compose import compose_job
from hpsweep.train.job import run
from hpsweep.train.loop import AUTOCAST_DTYPES, build_data

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def hpsweep_loop(overrides: list[str], epochs: int) -> list[float]:
    """Images/s of each epoch of a real hpsweep run (progress bar, checkpoints and all)."""
    with tempfile.TemporaryDirectory() as output_dir, open(os.devnull, "w") as devnull, redirect_stderr(devnull):
        run(compose_job(CONF_DIR, overrides, Path(output_dir)), output_dir)  # its progress bar drawn, unseen
        with open(Path(output_dir) / "history.csv") as handle:
            rates = [float(row["train_images_per_s"]) for row in csv.DictReader(handle)]
    HydraConfig.instance().cfg = None
    return rates


def minimal_loop(overrides: list[str], epochs: int) -> list[float]:
    """The same training as a plain loop, nothing but forward, backward and step."""
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_job(CONF_DIR, overrides, Path(output_dir))
    HydraConfig.instance().cfg = None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = cfg.trainer.precision if cfg.trainer.precision != "auto" else "fp32"
    torch.manual_seed(cfg.seed)
    data = build_data(cfg)
    memory_format = torch.channels_last if cfg.trainer.channels_last else torch.preserve_format
    model = timm.create_model(cfg.model.name, num_classes=data.num_classes).to(device, memory_format=memory_format)
    optimizer = create_optimizer_v2(model, opt="adamw", lr=cfg.optimizer.lr, weight_decay=cfg.optimizer.weight_decay)
    criterion = torch.nn.CrossEntropyLoss()
    rates = []
    for _ in range(epochs):
        started, seen = time.monotonic(), 0
        model.train()
        for images, labels in data.train_loader:
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            labels = labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=AUTOCAST_DTYPES.get(precision), enabled=precision != "fp32"):
                loss = criterion(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += labels.size(0)
        loss.item()  # wait for the device before reading the clock
        rates.append(seen / (time.monotonic() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="test_resnet")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides = [f"model={args.model}", f"data.image_size={args.image_size}", f"data.batch_size={args.batch_size}",
                 f"trainer.max_epochs={args.epochs}", f"trainer.precision={args.precision}", "logger.mode=disabled",
                 "early_stopping.patience=1000", "optimizer=AdamW"]
    samples = {hpsweep_loop: [], minimal_loop: []}
    for repeat in range(1, args.repeats + 1):
        # alternate which loop goes first: this shared machine's speed drifts over minutes
        order = (hpsweep_loop, minimal_loop) if repeat % 2 else (minimal_loop, hpsweep_loop)
        for loop in order:
            samples[loop] += loop(overrides, args.epochs)[1:]  # the first epoch warms up
        print(f"repeat {repeat}: hpsweep {statistics.median(samples[hpsweep_loop][-args.epochs + 1:]):7.1f} img/s"
              f"   minimal loop {statistics.median(samples[minimal_loop][-args.epochs + 1:]):7.1f} img/s")
    ours, plain = samples[hpsweep_loop], samples[minimal_loop]
    # Other tenants only ever slow a run down, so each loop's fastest epochs are its truest speed.
    print(f"\n{args.model} @ {args.image_size} px, batch {args.batch_size}, {args.precision}, "
          f"{torch.get_num_threads()} threads, {len(ours)} epochs each:")
    print(f"  best epoch:    hpsweep {max(ours):7.1f}  minimal {max(plain):7.1f} img/s  "
          f"ratio {max(ours) / max(plain):.3f}")
    print(f"  median epoch:  hpsweep {statistics.median(ours):7.1f}  minimal {statistics.median(plain):7.1f} img/s  "
          f"ratio {statistics.median(ours) / statistics.median(plain):.3f}")


if __name__ == "__main__":
    main()
