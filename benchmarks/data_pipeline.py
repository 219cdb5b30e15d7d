"""Input pipeline against the training step: is data loading ever the bottleneck?

    python benchmarks/data_pipeline.py [--model test_resnet] [--image-size 64] [--batch-size 32]

Measures, in one run: images/s of hpsweep's input pipelines alone (iterating their DataLoaders): digits,
and an image folder of PNGs (``data=image_folder``: PIL decoding, timm's training transform, DataLoader
workers) without and with ``data.cache_images``; and images/s of the model's training step on a batch
already in memory. A ratio above 1 means the pipeline outruns the model.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image

from hpsweep.compose import compose_job
from hpsweep.train.loop import build_data

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def images_per_second(loader, passes: int = 3) -> float:
    rates = []
    for _ in range(passes):
        started, seen = time.perf_counter(), 0
        for images, _ in loader:
            seen += images.size(0)
        rates.append(seen / (time.perf_counter() - started))
    return statistics.median(rates)


def training_step_rate(model_name: str, batch: torch.Tensor, steps: int = 30) -> float:
    model = timm.create_model(model_name, num_classes=10)
    optimizer = torch.optim.AdamW(model.parameters())
    labels = torch.zeros(batch.size(0), dtype=torch.long)
    for step in range(steps + 5):  # 5 warm-up steps
        if step == 5:
            started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch.size(0) / (time.perf_counter() - started)


def write_image_folder(root: Path, classes: int = 10, per_class: int = 60, size: int = 128) -> None:
    """A folder of random 3-channel PNGs, ``root/<class>/<n>.png``, as users' data sets are laid out."""
    rng = np.random.default_rng(0)
    for label in range(classes):
        (root / str(label)).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / str(label) / f"{index}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="test_resnet")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    size = [f"model={args.model}", f"data.image_size={args.image_size}", f"data.batch_size={args.batch_size}"]

    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        cfg = compose_job(CONF_DIR, size, Path(scratch))
        rates["digits (data=digits)"] = images_per_second(build_data(cfg).train_loader)
        folder = Path(scratch) / "images"
        write_image_folder(folder)
        for cache in (False, True):
            cfg = compose_job(CONF_DIR, [*size, "data=image_folder", f"data.root={folder}", "augmentation=light",
                                         f"data.num_workers={args.workers}", f"data.cache_images={cache}"],
                              Path(scratch))
            name = f"image folder, {args.workers} workers{', cached' if cache else ''}"
            rates[name] = images_per_second(build_data(cfg).train_loader)  # 3 passes: the cache fills in the first

    step = training_step_rate(args.model, torch.randn(args.batch_size, 3, args.image_size, args.image_size))
    print(f"{args.model} @ {args.image_size} px, batch {args.batch_size}, {torch.get_num_threads()} threads; "
          "image folder: 600 PNGs of 128 px, 10 classes, timm's training transform (augmentation=light)")
    print(f"{'pipeline':40} {'img/s':>9} {'x training step':>16}")
    print(f"{'training step (batch in memory)':40} {step:9.0f} {1.0:16.2f}")
    for name, rate in rates.items():
        print(f"{name:40} {rate:9.0f} {rate / step:16.2f}")


if __name__ == "__main__":
    main()
