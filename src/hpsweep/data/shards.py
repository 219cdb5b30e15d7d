"""webdataset shards: ``train-*.tar``, ``val-*.tar`` (or ``validation-``), optional ``test-*.tar``; each sample an
image (``.jpg``, ``.png``, ``.webp``) and its class index (``.cls``), grouped by key as webdataset groups them
(the member's name up to the first dot of its file name).

Read with Python's ``tarfile``: one pass over the members' headers indexes every sample (the counts come from it,
so no info file is needed), and each image is then read at its offset. The loaders get random access, so
shuffling, class-balanced sampling and caching work as for a folder of files.
"""

import tarfile
from pathlib import Path

from hpsweep.data.csv_splits import label_order
from hpsweep.data.image_files import FileIndex, open_bytes

SPLITS = {"train": ("train",), "val": ("val", "validation", "valid"), "test": ("test",)}
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def shards_of(root: Path, split: str) -> list[Path]:
    """The shards of ``split`` in ``root``: ``<name>-*.tar`` for each name the split goes by."""
    return sorted(path for name in SPLITS[split] for path in root.glob(f"{name}-*.tar")) if root.is_dir() else []


def has_shards(root: Path) -> bool:
    return bool(shards_of(root, "train"))


class Members:
    """Opens the image of a ``(shard, offset, size)`` reference: its bytes, read at their place in the tar."""

    def __call__(self, item: tuple[str, int, int]):
        shard, offset, size = item
        with open(shard, "rb") as handle:
            handle.seek(offset)
            return open_bytes(handle.read(size))

    def describe(self, item: tuple[str, int, int]) -> str:
        return f"the member at byte {item[1]} of {item[0]}"


def samples(shard: Path, problems: list[str]) -> list[tuple[str, tuple[str, int, int] | None, str | None]]:
    """Each sample of ``shard`` in order: its key, its image's reference and its ``.cls`` text (None if absent)."""
    found: dict[str, dict] = {}
    try:
        with tarfile.open(shard, "r:") as tar:  # uncompressed, as webdataset writes them: members read at offsets
            for member in tar:
                if not member.isfile():
                    continue
                folder, _, name = member.name.rpartition("/")
                stem, _, extension = name.partition(".")
                sample = found.setdefault(f"{folder}/{stem}" if folder else stem, {})
                if extension.lower() in IMAGE_EXTENSIONS:
                    sample["image"] = (str(shard), member.offset_data, member.size)
                elif extension == "cls":
                    sample["cls"] = tar.extractfile(member).read().decode().strip()
    except (OSError, tarfile.TarError) as error:
        problems.append(f"shard {shard} cannot be read: {type(error).__name__}: {error}")
    for key, sample in found.items():
        if "image" not in sample:
            problems.append(f"shard {shard}: sample {key!r} has no image ({', '.join(IMAGE_EXTENSIONS)})")
    return [(key, sample["image"], sample.get("cls")) for key, sample in found.items() if "image" in sample]


def index_shards(root: str) -> FileIndex:
    """Every sample of the split shards under ``root``; ``val`` shards are the given validation split."""
    root_path = Path(root).expanduser()
    index = FileIndex([], [], [], [], [], [], [], layout="webdataset", opener=Members())
    split_samples = {}
    for split in SPLITS:
        shards = shards_of(root_path, split)
        split_samples[split] = [sample for shard in shards for sample in samples(shard, index.problems)]
        index.stores = [*(index.stores or []), *shards]
    unlabelled = [key for split in ("train", "val") for key, _, cls in split_samples[split] if cls is None]
    if unlabelled:
        index.problems.append(f"{len(unlabelled)} train/val samples have no .cls class index (the first: "
                              f"{unlabelled[0]!r})")
    index.targets = sorted({cls for key, _, cls in split_samples["train"] if cls is not None}, key=label_order)
    index.class_names = list(index.targets)
    position = {target: number for number, target in enumerate(index.targets)}
    for split in ("train", "val"):
        if split == "val" and split_samples["val"]:
            names = [shard.name for shard in shards_of(root_path, "val")]
            index.validation, index.given_by = [], f"{len(names)} shards in {root_path}: {', '.join(names)}"
        for key, image, cls in split_samples[split]:
            if cls is None:
                continue
            if cls not in position:
                index.problems.append(f"{split} sample {key!r}: class {cls} is not one of the train shards' "
                                      f"({', '.join(index.targets)})")
                continue
            index.add(image, key, position[cls])
    test = split_samples["test"]
    index.test_paths, index.test_ids = [image for _, image, _ in test], [key for key, _, _ in test]
    if test and all(cls in position for _, _, cls in test):
        index.test_labels = [position[cls] for _, _, cls in test]
    return index
