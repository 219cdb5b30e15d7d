"""Loop overhead: images/s of hpsweep's training loop against a minimal hand-written torch loop.

    python benchmarks/loop_overhead.py [--model test_resnet] [--image-size 64] [--batch-size 32]
    python benchmarks/loop_overhead.py --startup [--repeats 5]   # a training's cost beyond its epochs

``--startup`` runs each training in a fresh process, as a job runs: ``run_experiments.py`` (W&B offline, as by
default) against a minimal timm loop (torch, timm, the digits, train and validate each epoch, nothing else),
and reports what each costs beyond its epochs: imports, W&B, Hydra, the pre-flight, checkpoints, outputs.

Both train the same timm model on the same DataLoader with the same optimizer, batch size, precision and
memory format (hpsweep's default channels_last), in this process, alternating; the first epoch of each
is warm-up and not counted. hpsweep's figure is the training pass alone (``train_images_per_s`` in its
history.csv), as the minimal loop's is.
"""

import argparse
import csv
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path

import timm
import torch
from hydra.core.hydra_config import HydraConfig
from timm.optim import create_optimizer_v2

from hpsweep.core.compose import compose_job
from hpsweep.sweep.job import run
from hpsweep.train.loop import AUTOCAST_DTYPES, build_data

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
ROOT = CONF_DIR.parent
# The minimal timm loop of --startup, run as `python -c`: its epochs (train and validate) timed from inside
MINIMAL_PROCESS = """
import json, sys, time
import torch, timm
import torch.nn.functional as F
from sklearn.datasets import load_digits
from timm.optim import create_optimizer_v2
size, batch, epochs = map(int, sys.argv[1:4])
torch.manual_seed(0)
digits = load_digits()
images = torch.from_numpy(digits.images).float().div(16).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
labels = torch.from_numpy(digits.target).long()
order = torch.randperm(len(labels))
train, val = order[:1527], order[1527:]
model = timm.create_model("test_resnet", num_classes=10).to(memory_format=torch.channels_last)
optimizer = create_optimizer_v2(model, opt="adamw", lr=0.001, weight_decay=0.001)
seconds = []
for epoch in range(epochs):
    started = time.perf_counter()
    model.train()
    for chunk in train[torch.randperm(len(train))].split(batch):
        x = F.interpolate(images[chunk], size=(size, size), mode="bilinear")
        x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), labels[chunk])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.inference_mode():
        correct = sum((model(F.interpolate(images[chunk], size=(size, size), mode="bilinear")).argmax(1)
                       == labels[chunk]).sum().item() for chunk in val.split(batch))
    seconds.append(time.perf_counter() - started)
print(json.dumps(seconds))
"""


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


def fresh_process_overheads(size: int, batch: int, epochs: int) -> tuple[float, float]:
    """Seconds beyond the epochs of one hpsweep training and of one minimal timm loop, each in a fresh process."""
    env = {**os.environ, "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as run_dir:
        started = time.perf_counter()
        subprocess.run([sys.executable, "run_experiments.py", "model=test_resnet", f"data.image_size={size}",
                        f"data.batch_size={batch}", f"trainer.max_epochs={epochs}", "trainer.progress_bar=false",
                        "logger.mode=offline", "early_stopping.patience=1000", f"hydra.run.dir={run_dir}"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        ours = time.perf_counter() - started
        with open(Path(run_dir) / "history.csv") as handle:
            ours -= sum(float(row["epoch_s"]) for row in csv.DictReader(handle))
    started = time.perf_counter()
    printed = subprocess.run([sys.executable, "-c", MINIMAL_PROCESS, str(size), str(batch), str(epochs)], cwd=ROOT,
                             env=env, check=True, capture_output=True, text=True).stdout
    return ours, time.perf_counter() - started - sum(json.loads(printed))


def startup(args) -> None:
    samples = {"hpsweep": [], "minimal": []}
    for repeat in range(1, args.repeats + 1):
        ours, plain = fresh_process_overheads(args.image_size, args.batch_size, args.epochs)
        samples["hpsweep"].append(ours)
        samples["minimal"].append(plain)
        print(f"repeat {repeat}: beyond the epochs, hpsweep {ours:5.2f} s   minimal timm loop {plain:5.2f} s")
    # other tenants only add time: each one's least is its truest cost
    ours, plain = min(samples["hpsweep"]), min(samples["minimal"])
    print(f"\ntest_resnet @ {args.image_size} px, batch {args.batch_size}, {args.epochs} epochs, fresh processes:")
    print(f"  least overhead:  hpsweep {ours:.2f} s  minimal {plain:.2f} s  hpsweep's extra {ours - plain:.2f} s")
    print(f"  median overhead: hpsweep {statistics.median(samples['hpsweep']):.2f} s  "
          f"minimal {statistics.median(samples['minimal']):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="test_resnet")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--startup", action="store_true", help="a training's cost beyond its epochs, fresh processes")
    args = parser.parse_args()
    if args.startup:
        return startup(args)
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
