"""One small data set (3 classes of shapes, 16 px) written in each layout ``data=auto`` recognises.

Each writer returns the validation ids the layout's index gives its validation images, so a test can check
that a training validated on exactly those.
"""

import csv
import io
import random
import tarfile
from pathlib import Path

from competition_data import draw

CLASSES = ("circle", "square", "star")  # names; the shapes are competition_data's classes 0, 1, 2
SPLIT_SIZES = {"train": 6, "val": 3, "test": 2}  # images per class


def images(seed: int = 0):
    """(split, class number, image number, PIL image) for every image of the data set."""
    rng = random.Random(seed)
    for split, count in SPLIT_SIZES.items():
        for label in range(len(CLASSES)):
            for number in range(count):
                yield split, label, number, draw(label, rng, size=16)


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def write_imagenet(root: Path, val_name: str = "val") -> set[str]:
    """``train/<class>/``, ``val/<class>/`` and a labelled ``test/<class>/``."""
    val_ids = set()
    for split, label, number, image in images():
        folder = root / (val_name if split == "val" else split) / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{number}.png")
        if split == "val":
            val_ids.add(f"{val_name}/{CLASSES[label]}/{number}.png")
    return val_ids


def write_split_csv(root: Path) -> set[str]:
    """``images/<file>`` and ``labels.csv`` (image,label,split), the test rows labelled."""
    (root / "images").mkdir(parents=True)
    rows, val_ids = [], set()
    for split, label, number, image in images():
        name = f"images/{split}_{label}_{number}.png"
        image.save(root / name)
        rows.append((name, CLASSES[label], split))
        if split == "val":
            val_ids.add(name)
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("image", "label", "split"))
        writer.writerows(rows)
    return val_ids


def hf_dataset_dict():
    """The data set as a ``datasets.DatasetDict`` (train, validation, test), labels a ClassLabel."""
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))})
    columns = {name: {"image": [], "label": []} for name in ("train", "validation", "test")}
    for split, label, _, image in images():
        column = columns["validation" if split == "val" else split]
        column["image"].append({"bytes": png(image), "path": None})
        column["label"].append(label)
    return datasets.DatasetDict({name: datasets.Dataset.from_dict(column, features=features)
                                 for name, column in columns.items()})


def write_hf_saved(root: Path) -> set[str]:
    """A ``save_to_disk`` folder."""
    hf_dataset_dict().save_to_disk(str(root))
    return {f"validation/{row}" for row in range(SPLIT_SIZES["val"] * len(CLASSES))}


def write_hf_parquet(root: Path) -> set[str]:
    """Parquet files as the hub keeps them: ``data/<split>-00000-of-00001.parquet``."""
    (root / "data").mkdir(parents=True)
    for name, split in hf_dataset_dict().items():
        split.to_parquet(str(root / "data" / f"{name}-00000-of-00001.parquet"))
    return {f"validation/{row}" for row in range(SPLIT_SIZES["val"] * len(CLASSES))}


def write_hf_imagefolder(root: Path) -> set[str]:
    """A Hugging Face imagefolder: ``<split>/<file>`` with a ``metadata.csv`` (file_name,label) in each split."""
    rows: dict[str, list] = {}
    for split, label, number, image in images():
        name = "validation" if split == "val" else split
        (root / name).mkdir(parents=True, exist_ok=True)
        image.save(root / name / f"{label}_{number}.png")
        rows.setdefault(name, []).append((f"{label}_{number}.png", CLASSES[label]))
    for name, listed in rows.items():
        with open(root / name / "metadata.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([("file_name", "label"), *listed])
    return {f"validation/{row}" for row in range(SPLIT_SIZES["val"] * len(CLASSES))}


def write_shards(root: Path) -> set[str]:
    """webdataset shards ``train-000000.tar``, ``val-000000.tar``, ``test-000000.tar``: ``<key>.png`` and
    ``<key>.cls``, the train split in two shards."""
    root.mkdir(parents=True, exist_ok=True)
    val_ids, shards = set(), {}
    for split, label, number, image in images():
        shard = f"{split}-{number % 2:06d}.tar" if split == "train" else f"{split}-000000.tar"
        key = f"{split}_{label}_{number}"
        shards.setdefault(shard, []).append((key, png(image), label))
        if split == "val":
            val_ids.add(key)
    for shard, samples in shards.items():
        with tarfile.open(root / shard, "w") as tar:
            for key, image, label in samples:
                for name, data in ((f"{key}.png", image), (f"{key}.cls", str(label).encode())):
                    member = tarfile.TarInfo(name)
                    member.size = len(data)
                    tar.addfile(member, io.BytesIO(data))
    return val_ids


WRITERS = {"imagenet": write_imagenet, "csv_split": write_split_csv, "hf_saved": write_hf_saved,
           "hf_files": write_hf_parquet, "hf_imagefolder": write_hf_imagefolder, "webdataset": write_shards}
LAYOUT_OF = {"hf_imagefolder": "hf_files"}  # the layout that reads a writer's data, where not its name
