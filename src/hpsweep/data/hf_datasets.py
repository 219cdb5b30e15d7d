"""Hugging Face ``datasets`` on disk: a folder written by ``save_to_disk``, or local files ``load_dataset`` reads
(parquet, or an imagefolder with ``metadata.csv``), their splits as the dataset names them. Never the network:
both load with ``HF_DATASETS_OFFLINE`` and ``HF_HUB_OFFLINE`` set.

Images stay in the dataset's arrow files (or their own files) and are decoded one at a time by the loaders; the
index holds ``(split, row)`` references.
"""

import os
from contextlib import contextmanager
from pathlib import Path

from hpsweep.data.csv_splits import label_order
from hpsweep.data.image_files import FileIndex, open_bytes

SPLITS = {"train": ("train",), "val": ("validation", "val", "valid"), "test": ("test",)}
DATA_SUFFIXES = (".parquet", ".arrow")
METADATA_FILES = ("metadata.csv", "metadata.jsonl", "metadata.parquet")  # what marks an imagefolder as HF's


def is_saved(root: Path) -> bool:
    """A ``save_to_disk`` folder: a DatasetDict's ``dataset_dict.json`` or a Dataset's ``state.json``."""
    return (root / "dataset_dict.json").is_file() or (root / "state.json").is_file()


def is_loadable(root: Path) -> bool:
    """Local files ``load_dataset`` infers a builder for: parquet/arrow files, or image folders with metadata."""
    if not root.is_dir():
        return False
    near = [*root.glob("*"), *root.glob("*/*"), *root.glob("*/*/*")]  # the depths the hub's layouts use
    return any(path.suffix in DATA_SUFFIXES for path in near) or any(path.name in METADATA_FILES for path in near)


@contextmanager
def offline():
    """The ``datasets`` and hub clients told not to touch the network, and their progress bars off."""
    saved = {key: os.environ.get(key) for key in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    import datasets

    datasets.disable_progress_bars()
    try:
        yield datasets
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Records:
    """Opens the image of a ``(split, row)`` reference, from its bytes in the arrow table or its file."""

    def __init__(self, splits: dict, image_column: str):
        self.splits, self.image_column = splits, image_column

    def __call__(self, item: tuple[str, int]):
        stored = self.splits[item[0]][item[1]][self.image_column]
        if stored.get("bytes"):
            return open_bytes(stored["bytes"])
        from PIL import Image

        return Image.open(stored["path"])

    def describe(self, item: tuple[str, int]) -> str:
        return f"row {item[1]} of split {item[0]!r}"


def index_dataset(root: str, image_column: str = "image", label_column: str = "label",
                  saved: bool | None = None) -> FileIndex:
    """The splits of the dataset at ``root``: ``train``; ``validation``, ``val`` or ``valid`` as the given
    validation split; ``test`` (labelled: evaluated; without labels: predicted)."""
    root_path = Path(root).expanduser()
    saved = is_saved(root_path) if saved is None else saved
    index = FileIndex([], [], [], [], [], [], [], layout="hf_saved" if saved else "hf_files")
    # what proves the data unchanged: the files under root (load_dataset's cache is rebuilt from them)
    index.stores = sorted(path for path in root_path.rglob("*") if path.is_file()) if root_path.is_dir() else []
    with offline() as datasets:
        try:
            loaded = datasets.load_from_disk(str(root_path)) if saved else datasets.load_dataset(str(root_path))
        except Exception as error:  # the library raises many kinds for a folder it cannot read
            how = "datasets.load_from_disk" if saved else "datasets.load_dataset"
            index.problems.append(f"data.root={root!r}: {how} failed: {type(error).__name__}: {error}")
            return index
        if isinstance(loaded, datasets.Dataset):
            loaded = datasets.DatasetDict(train=loaded)
        keys = {name: next((key for key in SPLITS[name] if key in loaded), None) for name in SPLITS}
        splits = {name: loaded[key] if key else None for name, key in keys.items()}
        if splits["train"] is None:
            index.problems.append(f"data.root={root!r}: the dataset has no 'train' split (its splits: "
                                  f"{', '.join(loaded)})")
            return index
        for name, split in ((name, split) for name, split in splits.items() if split is not None):
            columns = split.column_names
            needed = (image_column, label_column) if name != "test" else (image_column,)
            missing = [column for column in needed if column not in columns]
            if missing:
                index.problems.append(f"data.root={root!r}: split {name!r} has no column {', '.join(missing)} (its "
                                      f"columns: {', '.join(columns)}); set data.image_column / data.label_column")
        if index.problems:
            return index
        readable = {name: split.cast_column(image_column, datasets.Image(decode=False))
                    for name, split in splits.items() if split is not None}
    _fill(index, readable, splits, keys, image_column, label_column)
    return index


def _fill(index: FileIndex, readable: dict, splits: dict, keys: dict, image_column: str, label_column: str) -> None:
    labels = {name: split[label_column] for name, split in splits.items()
              if split is not None and label_column in split.column_names}
    feature = splits["train"].features[label_column]
    if hasattr(feature, "names"):  # a ClassLabel: its names, its integers as they are
        index.class_names = list(feature.names)
        position = {number: number for number in range(len(feature.names))}
    else:
        index.targets = sorted({str(value) for value in labels["train"]}, key=label_order)
        index.class_names = list(index.targets)
        position = {value: index.targets.index(str(value)) for value in set(labels["train"])}
    for name in ("train", "val"):
        if name == "val" and name in labels:
            index.validation, index.given_by = [], f"split {keys[name]!r}"
        for row, value in enumerate(labels.get(name, [])):
            if value not in position:
                index.problems.append(f"row {row} of split {name!r}: {label_column}={value!r} is not a class "
                                      f"of the train split")
                continue
            index.add((name, row), f"{keys[name]}/{row}", position[value])
    if splits["test"] is not None:
        index.test_paths = [("test", row) for row in range(len(splits["test"]))]
        index.test_ids = [f"test/{row}" for row in range(len(splits["test"]))]
        test_labels = labels.get("test")
        if test_labels is not None and all(value in position for value in test_labels):  # -1: no label
            index.test_labels = [position[value] for value in test_labels]
    index.opener = Records(readable, image_column)

