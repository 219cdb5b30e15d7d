"""``hpsweep ensemble``: one submission from many runs, their test probabilities averaged.

The runs are every completed run under the given dirs that predicted a test folder (a fold sweep, several
seeds, several models); each weighs the same. Where their validation sets differ (folds), their validation
probabilities make the same ensemble's out-of-fold estimate: each image is predicted by the runs that
validated on it, which never trained on it.
"""

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsweep.core.errors import ConfigError
from hpsweep.core.records import (
    PREDICTIONS_FILE,
    TEST_PROBABILITIES_FILE,
    VAL_PROBABILITIES_FILE,
    read_probabilities,
    write_csv_atomic,
)
from hpsweep.core.statuses import TrainingStatus
from hpsweep.decide.results import TrainingResult, load

log = logging.getLogger(__name__)


@dataclass
class Probabilities:
    """A probability file: ids, (targets), class labels and one row of probabilities per id."""

    ids: list[str]
    labels: list[str]
    values: np.ndarray
    targets: list[str] | None = None
    id_column: str = "id"

    @classmethod
    def read(cls, path: Path, with_target: bool) -> "Probabilities | None":
        """The file's probabilities; None where it is absent or unreadable (set aside)."""
        found = read_probabilities(path, with_target)
        if found is None:
            return None
        header, leading, values = found
        first = 2 if with_target else 1
        return cls([row[0] for row in leading], header[first:], np.array(values).reshape(len(values), -1),
                   [row[1] for row in leading] if with_target else None, header[0])


def runs_with_test_predictions(directories: list[Path]) -> list[tuple[TrainingResult, Probabilities]]:
    """Every completed run whose test probabilities read, with them."""
    found = [(training, Probabilities.read(training.directory / TEST_PROBABILITIES_FILE, with_target=False))
             for sweep in load(directories) for training in sweep.trainings
             if training.status == TrainingStatus.COMPLETED]
    return [(training, test) for training, test in found if test is not None]


def ensemble(directories: list[Path], out: Path) -> dict:
    """Write the averaged submission to ``out``; return what was used and the out-of-fold estimate."""
    found = runs_with_test_predictions(directories)
    if not found:
        raise ConfigError([f"no completed run under {', '.join(map(str, directories))} predicted a test folder "
                           f"({TEST_PROBABILITIES_FILE}); train with data.test_dir set"])
    runs, tests = [run for run, _ in found], [test for _, test in found]
    first = tests[0]
    problems = [f"{run.directory}: its test ids or classes differ from {runs[0].directory}'s"
                for run, test in zip(runs, tests, strict=True) if (test.ids, test.labels) != (first.ids, first.labels)]
    if problems:
        raise ConfigError(problems, summary="these runs cannot be ensembled")
    weight = 1 / len(runs)
    average = sum(test.values for test in tests) * weight
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out, submission_columns(runs[0].directory / PREDICTIONS_FILE, first.id_column),
                     ((image_id, first.labels[int(row.argmax())]) for image_id, row in zip(first.ids, average,
                                                                                          strict=True)))
    return {"runs": [str(run.directory) for run in runs], "weight": weight, "images": len(first.ids),
            "out": str(out), **out_of_fold(runs)}


def submission_columns(path: Path, id_column: str) -> list[str]:
    """The sample submission's id and target columns, as a run's ``predictions.csv`` has them."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            columns = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        columns = []
    if len(columns) != 2:
        log.warning("%s: no id and target columns in its first line; writing %s,target", path, id_column)
        columns = [id_column, "target"]
    return columns


def out_of_fold(runs: list[TrainingResult]) -> dict:
    """The ensemble's macro F1 on validation images: out-of-fold where the runs validated on different images."""
    from sklearn.metrics import f1_score

    found = [probabilities for run in runs
             if (probabilities := Probabilities.read(run.directory / VAL_PROBABILITIES_FILE, with_target=True))]
    if not found:
        return {"oof_f1": None, "oof": "no val_probabilities.csv in these runs"}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    targets: dict[str, str] = {}
    for probabilities in found:
        for image_id, row, target in zip(probabilities.ids, probabilities.values, probabilities.targets, strict=True):
            sums[image_id] = sums.get(image_id, 0) + row
            counts[image_id] = counts.get(image_id, 0) + 1
            targets[image_id] = target
    labels = found[0].labels
    ids = sorted(sums)
    predicted = [labels[int(sums[image_id].argmax())] for image_id in ids]
    score = float(f1_score([targets[image_id] for image_id in ids], predicted, average="macro", labels=labels,
                           zero_division=0))
    same_split = all(set(probabilities.ids) == set(found[0].ids) for probabilities in found)
    low, high = min(counts.values()), max(counts.values())
    how_many = f"{low}" if low == high else f"{low} to {high}"
    kind = ("validation F1 on the split every run held out (not out-of-fold: the runs share it)" if same_split else
            f"out-of-fold F1: each of {len(ids)} images predicted by the {how_many} run(s) that validated on it "
            "and never trained on it")
    return {"oof_f1": score, "oof": kind, "oof_images": len(ids)}
