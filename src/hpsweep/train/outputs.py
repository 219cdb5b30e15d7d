"""What a finished training leaves for each stopping rule it followed: its best weights restored and saved, their
view of the validation images (and of each distorted view), their predictions of the test images, and the
metrics of its best epoch."""

from pathlib import Path

import torch
from omegaconf import DictConfig

from hpsweep.core.records import (
    BEST_WEIGHTS_FILE,
    PREDICTIONS_FILE,
    TEST_PROBABILITIES_FILE,
    VAL_PROBABILITIES_FILE,
    VAL_VIEWS_PROBABILITIES_FILE,
    History,
)
from hpsweep.train.checkpoint import save_atomic
from hpsweep.train.early_stopping import EarlyStopping
from hpsweep.train.evaluation import tta_scores
from hpsweep.train.parts import Parts
from hpsweep.train.predictions import predict, write_predictions, write_probabilities


def write_outputs(parts: Parts, trainer: DictConfig, rule: EarlyStopping, directory: Path,
                  history: History) -> tuple[dict, Path | None]:
    """A rule's best weights restored and written out with their view of the validation and test images;
    its metrics at its best epoch, and the predictions file where there is a test set."""
    judged, data = parts.judged, parts.data
    rule.restore_best(judged)
    if trainer.save_best_model:
        save_atomic(judged.state_dict(), directory / BEST_WEIGHTS_FILE)
    labels = data.prediction_labels or data.class_names
    write_validation_views(parts, directory, labels)
    predictions, held_out = None, {}
    if data.test_loader is not None:
        predictions = directory / PREDICTIONS_FILE
        probabilities, test_targets = _predict(parts, data.test_loader, list(trainer.tta))
        held_out = data.test_scores(probabilities, test_targets)  # a labelled test set: test_acc, test_f1
        write_predictions(predictions, data.test_ids, probabilities, labels, data.submission_columns)
        write_probabilities(directory / TEST_PROBABILITIES_FILE, data.test_ids, probabilities, labels,
                            id_column=data.submission_columns[0])
    best_row = history.rows[rule.best_epoch - 1]
    metrics = {key: value for key, value in best_row.items() if key.startswith("val_")}
    metrics |= {"best_epoch": rule.best_epoch, rule.monitor: rule.best_value} | held_out
    if trainer.tta:  # what test-time augmentation gains, measured on the validation images too
        metrics |= tta_scores(parts.evaluated, data, parts.device, parts.autocast, parts.memory_format,
                              list(trainer.tta))
    return metrics, predictions


def write_validation_views(parts: Parts, directory: Path, labels: list[str]) -> None:
    """The best weights' view of every validation image (per-image comparisons between runs, ensembles), and of
    every distorted view (paired tests of a distorted metric pair views)."""
    data = parts.data
    probabilities, targets = _predict(parts, data.val_loader, [])
    write_probabilities(directory / VAL_PROBABILITIES_FILE, data.val_ids, probabilities, labels,
                        targets=[labels[target] for target in targets.tolist()])
    if data.val_distortions:
        seen = [_predict(parts, data.val_loader, [], name) for name in data.val_distortions]
        write_probabilities(directory / VAL_VIEWS_PROBABILITIES_FILE,
                            [f"{image}@{name}" for name in data.val_distortions for image in data.val_ids],
                            torch.cat([probs for probs, _ in seen]), labels,
                            targets=[labels[target] for _, view in seen for target in view.tolist()])


def _predict(parts: Parts, loader, tta: list[str], distortion: str | None = None):
    return predict(parts.evaluated, loader, parts.device, parts.autocast, parts.memory_format, tta, distortion)
