"""Data sets of image files: an image folder (``root/<class>/*.png``, with ``val/`` and ``test/`` beside it), a
competition CSV (``ID,target``) or a CSV with a split column (``image,label,split``).

Indexing and checking need no torch: the pre-flight scans every file before any job starts.
"""

import csv
import functools
import glob
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class FileIndex:
    """The labelled images (training, and validation where the data gives it), the class names, and the test
    images (if any). Every layout (``hpsweep.data.layouts``) yields one; the loaders train from it."""

    paths: list  # each labelled image: a file, or a reference ``opener`` reads (a record, a tar member)
    ids: list[str]  # each labelled image's id: its CSV id, or <class>/<file name>
    labels: list[int]
    class_names: list[str]
    test_paths: list
    test_ids: list[str]
    problems: list[str]
    targets: list[str] | None = None  # each class's label as the source writes it (csv); None: its name
    validation: list[int] | None = None  # positions in paths of the validation images the data gives; None: drawn
    given_by: str | None = None  # where the data gives its validation split, for messages
    test_labels: list[int] | None = None  # each test image's label, where the data gives them; None: predicted
    opener: Callable | None = None  # reads one of paths as a PIL image; None: they are image files
    tables: list[Path] = field(default_factory=list)  # the files that hold labels (CSVs), digested by their bytes
    stores: list[Path] | None = None  # the files holding the images where paths are not files (shards, arrow)
    layout: str = ""
    id_column: str = "id"  # the column predictions.csv names its ids by (the competition's sample submission's)

    def add(self, item, image_id: str, label: int) -> None:
        """One labelled image; a validation image where the data's given split is being read (``validation`` set,
        after the training images)."""
        if self.validation is not None:
            self.validation.append(len(self.paths))
        self.paths.append(item)
        self.ids.append(image_id)
        self.labels.append(label)

    def open(self, item):
        """The image ``item`` (one of paths or test_paths) as PIL opens it, lazily."""
        from PIL import Image

        return Image.open(item) if self.opener is None else self.opener(item)

    def name(self, item) -> str:
        """Where ``item`` is, for a message: its path, or the record or tar member an opener says."""
        return str(item) if self.opener is None else self.opener.describe(item)


def open_bytes(data: bytes):
    """An image held in memory (a record's bytes, a tar member), opened lazily as a file would be."""
    from PIL import Image

    return Image.open(io.BytesIO(data))


def conventional(folder: Path, key: str, value: str | None, name: str) -> str | None:
    """``auto``: the layout's conventional file or folder ``folder/name`` when it is there (and say so in the
    log), else none; any other value (a name, or null for none) as it is."""
    if value != "auto":
        return value
    found = (folder / name).resolve()  # absolute: joined to the data root, it stays itself
    if found.exists():
        _say_found(key, found)
        return str(found)
    return None


@functools.cache
def _say_found(key: str, found: Path) -> None:
    """Once per process: the pre-flight's scan and the loaders index the same folders."""
    log.info("data.%s=auto: using %s", key, found)


def images_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)


VAL_FOLDERS = ("val", "validation", "valid")  # the names torchvision, timm and Hugging Face give a validation split


def index_image_folder(root: str, test_dir: str | None = None, val_dir: str | None = None) -> FileIndex:
    """``root/<class>/<image>``: one folder per class, named after it. ``val_dir=auto`` takes a ``val`` (or
    ``validation``) folder of the same classes beside ``root`` as the validation split, and ``test_dir=auto`` a
    ``test`` folder (``data/train/<class>/...``, ``data/val/<class>/...``, ``data/test/``) when there is one."""
    root_path = Path(root).expanduser()
    test_dir = conventional(root_path.parent, "test_dir", test_dir, "test") if root_path.name != "test" else None
    if val_dir == "auto":
        found = [name for name in VAL_FOLDERS if (root_path.parent / name).is_dir() and root_path.name != name]
        val_dir = conventional(root_path.parent, "val_dir", "auto", found[0]) if found else None
    index = FileIndex([], [], [], [], [], [], [], layout="image_folder")
    if not root_path.is_dir():
        index.problems.append(f"data.root={root!r} is not a directory (expected root/<class>/<image files>)")
        return index
    index.class_names = sorted(path.name for path in root_path.iterdir() if path.is_dir())
    if not index.class_names:
        index.problems.append(f"data.root={root!r} has no class folders (expected root/<class>/<image files>)")
    for label, name in enumerate(index.class_names):
        images = images_in(root_path / name)
        if not images:
            index.problems.append(f"class folder {root_path / name} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        index.paths += images
        index.ids += [f"{name}/{path.name}" for path in images]
        index.labels += [label] * len(images)
    if val_dir:
        folder = Path(val_dir).expanduser()
        start = len(index.paths)
        _index_class_folders(index, folder, "data.val_dir", index.paths, index.ids, index.labels)
        index.validation, index.given_by = list(range(start, len(index.paths))), str(folder)
    _index_test_dir(index, test_dir, None)
    return index


def _index_class_folders(index: FileIndex, folder: Path, key: str, paths: list, ids: list, labels: list) -> None:
    """The images of ``folder/<class>/`` labelled by the training's classes, ids ``<folder>/<class>/<file>``."""
    if not folder.is_dir():
        index.problems.append(f"{key}: {folder} is not a directory")
        return
    position = {name: label for label, name in enumerate(index.class_names)}
    for sub in sorted(path for path in folder.iterdir() if path.is_dir()):
        if sub.name not in position:
            index.problems.append(f"{key}: class folder {sub} is not a training class "
                                  f"({', '.join(index.class_names)})")
            continue
        images = images_in(sub)
        paths += images
        ids += [f"{folder.name}/{sub.name}/{path.name}" for path in images]
        labels += [position[sub.name]] * len(images)


def index_csv(root: str, train_csv: str, images_dir: str, id_column: str, target_column: str,
              meta_csv: str | None = None, test_dir: str | None = None,
              sample_submission: str | None = None) -> FileIndex:
    """The competition layout: ``train.csv`` (``ID,target``), an image folder, optional ``meta.csv``
    (``target,class_name``), an optional test folder listed by an optional sample submission; each of those
    three set to ``auto`` is the layout's conventional name under ``root`` when it is there."""
    root_path = Path(root).expanduser()
    meta_csv = conventional(root_path, "meta_csv", meta_csv, "meta.csv")
    test_dir = conventional(root_path, "test_dir", test_dir, "test")
    sample_submission = conventional(root_path, "sample_submission", sample_submission, "sample_submission.csv")
    index = FileIndex([], [], [], [], [], [], [], layout="csv", id_column=id_column)
    index.tables = [root_path / name for name in (train_csv, meta_csv, sample_submission) if name]
    rows = _read_csv(root_path / train_csv, (id_column, target_column), index.problems, "data.train_csv")
    class_names = None
    if meta_csv:
        meta = _read_csv(root_path / meta_csv, ("target", "class_name"), index.problems, "data.meta_csv")
        if meta is not None:
            class_names = {row["target"]: row["class_name"] for row in meta}
    if rows is None:
        return index
    targets = sorted({row[target_column] for row in rows}, key=lambda value: (not value.isdigit(), value.zfill(9)))
    known = sorted(class_names, key=lambda value: (not value.isdigit(), value.zfill(9))) if class_names else targets
    index.class_names = [class_names[target] if class_names else target for target in known]
    index.targets = known
    position = {target: number for number, target in enumerate(known)}
    images = root_path / images_dir
    for line, row in enumerate(rows, start=2):
        if row[target_column] not in position:
            index.problems.append(f"{root_path / train_csv} line {line}: {target_column}={row[target_column]!r} "
                                  f"is not in {meta_csv} (targets: {', '.join(known)})")
            continue
        index.paths.append(images / row[id_column])
        index.ids.append(row[id_column])
        index.labels.append(position[row[target_column]])
    _index_test_dir(index, test_dir, root_path / sample_submission if sample_submission else None,
                    id_column, root_path)
    return index


def _read_csv(path: Path, columns: tuple[str, ...], problems: list[str], key: str) -> list[dict] | None:
    if not path.is_file():
        problems.append(f"{key}: {path} does not exist")
        return None
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in columns if column not in (reader.fieldnames or [])]
        if missing:
            problems.append(f"{path} has no column {', '.join(map(repr, missing))} "
                            f"(its columns: {', '.join(reader.fieldnames or [])})")
            return None
        return list(reader)


def _index_test_dir(index: FileIndex, test_dir: str | None, submission: Path | None,
                    id_column: str = "id", root: Path | None = None) -> None:
    if not test_dir:
        return
    folder = (root / test_dir) if root else Path(test_dir).expanduser()
    if not folder.is_dir():
        index.problems.append(f"data.test_dir={test_dir!r}: {folder} is not a directory")
        return
    if submission is not None:
        rows = _read_csv(submission, (id_column,), index.problems, "data.sample_submission")
        index.test_ids = [row[id_column] for row in rows or []]
        index.test_paths = [folder / image_id for image_id in index.test_ids]
    elif not images_in(folder) and any(images_in(sub) for sub in folder.iterdir() if sub.is_dir()):
        labels: list[int] = []  # test/<class>/<image>: a labelled held-out test set, evaluated
        _index_class_folders(index, folder, "data.test_dir", index.test_paths, index.test_ids, labels)
        index.test_labels = labels
    else:
        index.test_paths = images_in(folder)
        index.test_ids = [path.name for path in index.test_paths]


MISSING_SHOWN = 3  # more missing images than this are one problem: the ids likely do not name the files


def scan(index: FileIndex) -> list[str]:
    """Every problem of the data set: the index's own, then the images that are missing (a few one by one, many as
    one problem saying what the ids should be) and each one that cannot be read."""
    problems, listed = list(index.problems), [*index.paths, *index.test_paths]
    missing = [path for path in listed if index.opener is None and not path.is_file()]  # each file looked up once
    problems += missing_images(missing, len(listed))
    absent = set(missing)
    for path in (path for path in listed if path not in absent):
        try:
            with index.open(path) as image:
                image.verify()
        except Exception as error:  # PIL raises many types for a damaged file
            problems.append(f"image {index.name(path)} cannot be read: {type(error).__name__}: {error}")
    return problems


def missing_images(missing: list[Path], listed: int) -> list[str]:
    """``image ... does not exist`` for a few; for more, one problem naming the first few and, where files named
    like the ids with an extension are there, that an id must be the file's whole name."""
    if len(missing) <= MISSING_SHOWN:
        return [f"image {path} does not exist" for path in missing]
    folders = sorted({str(path.parent) for path in missing})
    examples = ", ".join(path.name for path in missing[:MISSING_SHOWN])
    problem = (f"{len(missing)} of {listed} listed images do not exist in {', '.join(folders)} "
               f"(the first: {examples})")
    near = sorted(path.parent.glob(f"{glob.escape(path.name)}.*")) if (path := missing[0]).parent.is_dir() else []
    if near:
        problem += (f": {near[0].name} is there; an id is the image's whole file name, extension included "
                    f"(the csv layout's rules: an id column of {near[0].name}, not {path.name})")
    else:
        problem += ": each id of the CSV is an image's file name, extension included, in the images folder"
    return [problem]
