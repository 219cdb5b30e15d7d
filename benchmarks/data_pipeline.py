"""Input pipeline against the training step: is data loading ever the bottleneck?

    python benchmarks/data_pipeline.py [--model test_resnet] [--image-size 64] [--batch-size 32]

Measures, in one run: images/s of hpsweep's input pipelines alone (iterating their DataLoaders): digits,
and an image folder of PNGs (``data=image_folder``: PIL decoding, timm's training transform, DataLoader
workers) without and with ``data.cache_images``; and images/s of the model's training step on a batch
already in memory. A ratio above 1 means the pipeline outruns the model.

``--layouts``: images/s of each layout ``data=auto`` reads (the same JPEGs in each: ImageNet-style folders, a
split CSV, a Hugging Face save_to_disk folder and parquet files, webdataset shards) at each ``--sizes``, in the
training process (no workers), so that what differs is how each layout finds and decodes an image.
"""

import argparse
import csv
import io
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image

from hpsweep.core.compose import compose_job
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


LAYOUT_SPLITS = {"train": 40, "val": 10}  # images per class


def jpegs(classes: int = 10, size: int = 256):
    """(split, class, number, JPEG bytes): smooth random images (noise upscaled), as photos compress."""
    rng = np.random.default_rng(0)
    for split, count in LAYOUT_SPLITS.items():
        for label in range(classes):
            for number in range(count):
                coarse = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
                buffer = io.BytesIO()
                coarse.resize((size, size), Image.BICUBIC).save(buffer, "JPEG", quality=90)
                yield split, label, number, buffer.getvalue()


def write_layouts(top: Path) -> dict[str, Path]:
    """The same images in each layout data=auto recognises: name -> root."""
    import datasets

    datasets.disable_progress_bars()
    images = list(jpegs())
    roots = {name: top / name for name in ("imagenet", "csv_split", "hf_saved", "hf_files", "webdataset")}
    rows, shards, columns = [], {}, {"train": {"image": [], "label": []}, "validation": {"image": [], "label": []}}
    for split, label, number, data in images:
        folder = roots["imagenet"] / split / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number}.jpg").write_bytes(data)
        (roots["csv_split"] / "images").mkdir(parents=True, exist_ok=True)
        (roots["csv_split"] / "images" / f"{split}_{label}_{number}.jpg").write_bytes(data)
        rows.append((f"images/{split}_{label}_{number}.jpg", label, split))
        shards.setdefault(f"{split}-{number % 4:06d}.tar", []).append((f"{split}_{label}_{number}", data, label))
        column = columns["validation" if split == "val" else split]
        column["image"].append({"bytes": data, "path": None})
        column["label"].append(label)
    with open(roots["csv_split"] / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("image", "label", "split"), *rows])
    roots["webdataset"].mkdir(parents=True)
    for shard, samples in shards.items():
        with tarfile.open(roots["webdataset"] / shard, "w") as tar:
            for key, data, label in samples:
                for name, content in ((f"{key}.jpg", data), (f"{key}.cls", str(label).encode())):
                    member = tarfile.TarInfo(name)
                    member.size = len(content)
                    tar.addfile(member, io.BytesIO(content))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
    dataset = datasets.DatasetDict({name: datasets.Dataset.from_dict(column, features=features)
                                    for name, column in columns.items()})
    dataset.save_to_disk(str(roots["hf_saved"]))
    (roots["hf_files"] / "data").mkdir(parents=True)
    for name, split in dataset.items():
        split.to_parquet(str(roots["hf_files"] / "data" / f"{name}-00000-of-00001.parquet"))
    return roots


def layout_rates(model: str, sizes: list[int], batch_size: int, rounds: int = 5) -> None:
    """Print images/s of each layout's training loader at each size: the best of ``rounds`` passes, the layouts
    taking turns in each round, so that another process's load on this shared CPU falls on all of them alike."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["HF_HOME"] = str(Path(scratch) / "hf_home")  # load_dataset's cache, thrown away after
        roots = write_layouts(Path(scratch) / "layouts")
        print(f"\nlayouts: {sum(LAYOUT_SPLITS.values()) * 10} JPEGs of 256 px (400 train), 10 classes, no workers, "
              f"no augmentation, best of {rounds} passes; {torch.get_num_threads()} threads")
        rates: dict[str, list[float]] = {name: [] for name in roots}
        for size in sizes:
            loaders = {}
            for name, root in roots.items():
                cfg = compose_job(CONF_DIR, [f"model={model}", "data=auto", f"data.root={root}",
                                             f"data.image_size={size}", f"data.batch_size={batch_size}",
                                             "data.num_workers=0"], Path(scratch))
                data = build_data(cfg)
                assert data.validation["split"] == "given", name
                loaders[name] = data.train_loader
            best = {name: 0.0 for name in roots}
            for _ in range(rounds):
                for name, loader in loaders.items():
                    best[name] = max(best[name], images_per_second(loader, passes=1))
            for name in roots:
                rates[name].append(best[name])
        print(f"{'layout':14}" + "".join(f"{f'img/s @ {size} px':>18}" for size in sizes))
        for name, found in rates.items():
            print(f"{name:14}" + "".join(f"{rate:18.0f}" for rate in found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="test_resnet")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--layouts", action="store_true", help="also each data=auto layout's images/s")
    parser.add_argument("--sizes", default="32,224", help="--layouts: the image sizes, comma-separated")
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
    if args.layouts:
        layout_rates(args.model, [int(size) for size in args.sizes.split(",")], args.batch_size)


if __name__ == "__main__":
    main()
