"""The one registry of data layouts ``data=auto`` recognises on disk, each yielding the same ``FileIndex``.

Layouts are tried in order, the most specific first: a Hugging Face folder or shards are told by their files'
names; ImageNet-style split folders before plain class folders, whose test for "folders of images" they would
otherwise fail. ``data.layout`` names one to skip recognition.
"""

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpsweep.data import csv_splits, hf_datasets, shards
from hpsweep.data.image_files import VAL_FOLDERS, FileIndex, images_in, index_csv, index_image_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    name: str
    looks_like: str  # what it is on disk, for the error that lists every layout
    recognises: Callable[[Path, dict], bool]
    index: Callable[[Path, dict], FileIndex]


def _class_folders(root: Path) -> bool:
    folders = [path for path in root.iterdir() if path.is_dir()] if root.is_dir() else []
    return bool(folders) and all(images_in(folder) for folder in folders)


def _split_csv(root: Path, options: dict) -> bool:
    if options["csv_file"] != "auto":
        return (root / options["csv_file"]).is_file()
    return bool(csv_splits.split_csvs(root, _columns(options)))


def _competition(root: Path) -> bool:
    table = root / "train.csv"
    return table.is_file() and {"ID", "target"} <= set(table.open().readline().strip().split(","))


LAYOUTS = (
    Layout("hf_saved", "a Hugging Face datasets folder written by save_to_disk (dataset_dict.json or state.json)",
           lambda root, options: hf_datasets.is_saved(root),
           lambda root, options: hf_datasets.index_dataset(str(root), options["image_column"],
                                                           options["label_column"], saved=True)),
    Layout("webdataset", "webdataset shards train-*.tar, val-*.tar or validation-*.tar, test-*.tar "
                         "(samples <key>.jpg|png|webp + <key>.cls)",
           lambda root, options: shards.has_shards(root),
           lambda root, options: shards.index_shards(str(root))),
    Layout("hf_files", "local Hugging Face dataset files for datasets.load_dataset (parquet or arrow files, or "
                       "image folders with metadata.csv/.jsonl)",
           lambda root, options: hf_datasets.is_loadable(root),
           lambda root, options: hf_datasets.index_dataset(str(root), options["image_column"],
                                                           options["label_column"], saved=False)),
    Layout("imagenet", f"train/<class>/<image> with {' or '.join(VAL_FOLDERS)}/<class>/ and test/ beside it, both "
                       "optional (torchvision's and timm's ImageFolder splits)",
           lambda root, options: _class_folders(root / "train"),
           lambda root, options: index_image_folder(str(root / "train"), options["test_dir"], "auto")),
    Layout("csv_split", "a CSV with columns image,label,split (data.image_column, data.label_column, "
                        "data.split_column) and the images under root",
           lambda root, options: _split_csv(root, options),
           lambda root, options: csv_splits.index_split_csv(str(root), options["csv_file"], *_columns(options))),
    Layout("competition", "train.csv (ID,target) with train/<ID>, optional meta.csv, test/, sample_submission.csv "
                          "(data=csv's layout)",
           lambda root, options: _competition(root),
           lambda root, options: index_csv(str(root), "train.csv", "train", "ID", "target", "auto",
                                           options["test_dir"], "auto")),
    Layout("class_folders", "<class>/<image> folders directly under root (data=image_folder's layout)",
           lambda root, options: _class_folders(root),
           lambda root, options: index_image_folder(str(root), options["test_dir"], None)),
)
NAMES = tuple(layout.name for layout in LAYOUTS)


def _columns(options: dict) -> tuple[str, str, str]:
    return options["image_column"], options["label_column"], options["split_column"]


def recognise(root: str, layout: str = "auto", options: dict | None = None) -> tuple[Layout | None, str | None]:
    """The layout of ``root`` (or the one ``layout`` names), or None and why none fits."""
    options = {**DEFAULT_OPTIONS, **(options or {})}
    root_path = Path(root).expanduser()
    if layout != "auto":
        chosen = next((known for known in LAYOUTS if known.name == layout), None)
        return chosen, None if chosen else f"data.layout={layout!r}: expected auto or one of {', '.join(NAMES)}"
    if not root_path.is_dir():
        return None, f"data.root={root!r} is not a directory"
    for known in LAYOUTS:
        if known.recognises(root_path, options):
            return known, None
    listed = "".join(f"\n      * {known.name}: {known.looks_like}" for known in LAYOUTS)
    return None, f"data.root={root!r} is in no layout data=auto knows; it reads:{listed}\n    (or name one with " \
                 "data.layout)"


DEFAULT_OPTIONS = {"image_column": "image", "label_column": "label", "split_column": "split", "csv_file": "auto",
                   "test_dir": "auto"}


def index_layout(root: str, layout: str = "auto", **options) -> FileIndex:
    """The index of the data set at ``root`` in its layout; a problem naming every layout where none fits."""
    chosen, problem = recognise(root, layout, options)
    if chosen is None:
        return FileIndex([], [], [], [], [], [], [problem])
    if layout == "auto":
        _say_recognised(str(root), chosen.name)
    index = chosen.index(Path(root).expanduser(), {**DEFAULT_OPTIONS, **options})
    index.layout = chosen.name
    return index


@functools.cache
def _say_recognised(root: str, name: str) -> None:
    """Once per process: the pre-flight, the data digest and the loaders index the same folder."""
    log.info("data=auto: %s is in the %s layout (data.layout=%s names it)", root, name, name)


def index_of(data_cfg) -> FileIndex | None:
    """The index of a configured data set of image files (a DictConfig or a dict of its keys); None for digits or
    a data set of the user's own."""
    target = str(data_cfg.get("_target_", ""))
    if target.endswith(".image_folder"):
        return index_image_folder(data_cfg["root"], data_cfg.get("test_dir"), data_cfg.get("val_dir"))
    if target.endswith(".csv"):
        return index_csv(data_cfg["root"], data_cfg["train_csv"], data_cfg["images_dir"], data_cfg["id_column"],
                         data_cfg["target_column"], data_cfg.get("meta_csv"), data_cfg.get("test_dir"),
                         data_cfg.get("sample_submission"))
    if target.endswith(".auto"):
        return index_layout(data_cfg["root"], data_cfg.get("layout", "auto"),
                            **{key: data_cfg.get(key, default) for key, default in DEFAULT_OPTIONS.items()})
    return None
