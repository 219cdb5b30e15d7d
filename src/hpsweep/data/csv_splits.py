"""A CSV that names each image's split: ``image,label,split`` rows (train / val / test), the images under root.

The split names are those of torchvision, timm and Hugging Face (``val``, ``valid`` and ``validation`` alike).
A ``val`` row is validated on as the data gives it; ``test`` rows with labels are evaluated, without them predicted.
"""

import csv
from pathlib import Path

from hpsweep.data.image_files import FileIndex

SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def label_order(value: str) -> tuple:
    """Labels in the order a person reads them: numbers by value (2 before 10), then names."""
    return (not value.isdigit(), value.zfill(9) if value.isdigit() else value)


def split_csvs(root: Path, columns: tuple[str, str, str]) -> list[Path]:
    """The CSV files directly in ``root`` whose header holds the image, label and split columns."""
    found = []
    for path in sorted(root.glob("*.csv")) if root.is_dir() else []:
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if all(column in header for column in columns):
            found.append(path)
    return found


def index_split_csv(root: str, csv_file: str = "auto", image_column: str = "image", label_column: str = "label",
                    split_column: str = "split") -> FileIndex:
    """The images a split CSV lists; ``csv_file=auto``: the one CSV in ``root`` with those three columns."""
    root_path = Path(root).expanduser()
    columns = (image_column, label_column, split_column)
    index = FileIndex([], [], [], [], [], [], [], layout="csv_split")
    if csv_file == "auto":
        found = split_csvs(root_path, columns)
        if len(found) != 1:
            index.problems.append(f"data.csv_file=auto: {root_path} holds {len(found)} CSV files with columns "
                                  f"{', '.join(columns)} ({', '.join(path.name for path in found) or 'none'}); "
                                  "name one with data.csv_file, or its columns with data.image_column, "
                                  "data.label_column and data.split_column")
            return index
        table = found[0]
    else:
        table = root_path / csv_file
    index.tables = [table]
    if not table.is_file():
        index.problems.append(f"data.csv_file: {table} does not exist")
        return index
    with open(table, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in columns if column not in (reader.fieldnames or [])]
        rows = list(reader)
    if missing:
        index.problems.append(f"{table} has no column {', '.join(map(repr, missing))} "
                              f"(its columns: {', '.join(rows[0] if rows else [])})")
        return index
    by_split: dict[str, list[tuple[int, dict]]] = {"train": [], "val": [], "test": []}
    for line, row in enumerate(rows, start=2):
        split = SPLITS.get(row[split_column].strip().lower())
        if split is None:
            index.problems.append(f"{table} line {line}: {split_column}={row[split_column]!r}: expected one of "
                                  f"{', '.join(SPLITS)}")
            continue
        by_split[split].append((line, row))
    _fill(index, table, by_split, image_column, label_column, root_path)
    return index


def _fill(index: FileIndex, table: Path, by_split: dict, image_column: str, label_column: str, root: Path) -> None:
    test_labelled = bool(by_split["test"]) and all(row[label_column] for _, row in by_split["test"])
    labelled = by_split["train"] + by_split["val"] + (by_split["test"] if test_labelled else [])
    index.targets = sorted({row[label_column] for _, row in labelled if row[label_column]}, key=label_order)
    index.class_names = list(index.targets)
    position = {target: number for number, target in enumerate(index.targets)}
    for split in ("train", "val"):
        if split == "val" and by_split["val"]:
            index.validation, index.given_by = [], f"{table} ({len(by_split['val'])} val rows)"
        for line, row in by_split[split]:
            if not row[label_column]:
                index.problems.append(f"{table} line {line}: a {split} image without a {label_column}")
                continue
            index.add(root / row[image_column], row[image_column], position[row[label_column]])
    if not index.labels:
        index.problems.append(f"{table} lists no labelled train images")
    index.test_paths = [root / row[image_column] for _, row in by_split["test"]]
    index.test_ids = [row[image_column] for _, row in by_split["test"]]
    if test_labelled:
        index.test_labels = [position[row[label_column]] for _, row in by_split["test"]]
