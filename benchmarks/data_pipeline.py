"""Input pipeline against the training step: is data loading ever the bottleneck?

    python benchmarks/data_pipeline.py [--model test_resnet] [--image-size 64] [--batch-size 32]

Measures, in one run: images/s of hpsweep's digits pipeline alone (iterating its DataLoader), images/s
of an image-folder pipeline alone (PNG files decoded by PIL, timm's training transform, DataLoader
workers: the reference for image-folder data), and images/s of the model's training step on batches
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
from timm.data import create_transform, resolve_data_config
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from hpsweep.compose import compose_job
from hpsweep.train import build_data

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

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_job(CONF_DIR, [f"model={args.model}", f"data.image_size={args.image_size}",
                                     f"data.batch_size={args.batch_size}"], Path(output_dir))
    digits = images_per_second(build_data(cfg).train_loader)

    with tempfile.TemporaryDirectory() as folder:
        write_image_folder(Path(folder))
        model = timm.create_model(args.model)
        data_config = resolve_data_config({"input_size": (3, args.image_size, args.image_size)}, model=model)
        transform = create_transform(**data_config, is_training=True)
        loader = DataLoader(ImageFolder(folder, transform=transform), batch_size=args.batch_size, shuffle=True,
                            num_workers=args.workers, persistent_workers=args.workers > 0)
        image_folder = images_per_second(loader)

    step = training_step_rate(args.model, torch.randn(args.batch_size, 3, args.image_size, args.image_size))
    print(f"{args.model} @ {args.image_size} px, batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"{'pipeline':40} {'img/s':>9} {'x training step':>16}")
    print(f"{'training step (batch in memory)':40} {step:9.0f} {1.0:16.2f}")
    print(f"{'digits (hpsweep data=digits)':40} {digits:9.0f} {digits / step:16.2f}")
    print(f"{f'image folder of PNGs, {args.workers} workers':40} {image_folder:9.0f} {image_folder / step:16.2f}")


if __name__ == "__main__":
    main()
