"""What a run leaves behind as data: ``result.json`` (written atomically), ``history.csv`` and, until it
completes, its checkpoint."""

import csv
import json
import os
from pathlib import Path

RESULT_FILE = "result.json"
HISTORY_FILE = "history.csv"
CHECKPOINT_FILE = "last_checkpoint.pt"  # written after every epoch until the job completes
VAL_PROBABILITIES_FILE = "val_probabilities.csv"  # id, target, one probability per class: the best weights'
TEST_PROBABILITIES_FILE = "test_probabilities.csv"  # the submission's id column, one probability per class
PREDICTIONS_FILE = "predictions.csv"  # the sample submission's columns: id, predicted target


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` so readers see the old file or the whole new one, never half of it."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_result(run_dir: Path) -> dict | None:
    """The run's result record, or None where it wrote none (yet)."""
    path = Path(run_dir) / RESULT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def count_rows(csv_path: Path) -> int:
    """Data rows in a CSV file with a header; 0 where there is no file."""
    if not csv_path.is_file():
        return 0
    with open(csv_path, newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


class History:
    """Per-epoch rows appended to ``history.csv`` as they happen, so a crash keeps every finished epoch."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []

    def restore(self, rows: list[dict]) -> None:
        """Start over from a checkpoint's rows, dropping any epoch written after that checkpoint."""
        self.path.unlink(missing_ok=True)
        self.rows = []
        for row in rows:
            self.append(row)

    def append(self, row: dict) -> None:
        new_file = not self.rows
        with open(self.path, "w" if new_file else "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        self.rows.append(row)
