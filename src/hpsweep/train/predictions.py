"""Predictions for a data set's test images with the best weights, optionally averaged over flips and
rotations (test-time augmentation), written in the sample submission's format."""

import csv
from pathlib import Path

import torch

TTA_VIEWS = {
    "hflip": lambda images: images.flip(3),
    "vflip": lambda images: images.flip(2),
    "rot90": lambda images: images.rot90(1, (2, 3)),
    "rot180": lambda images: images.rot90(2, (2, 3)),
    "rot270": lambda images: images.rot90(3, (2, 3)),
}
PREDICTIONS_FILE = "predictions.csv"


@torch.inference_mode()
def predict(model, loader, device, autocast: dict, memory_format, tta: list[str]) -> torch.Tensor:
    """The predicted class of every image of ``loader``: softmax averaged over the image and its TTA views.
    Rotations by 90 and 270 degrees need square inputs, which hpsweep's transforms give."""
    model.eval()
    classes = []
    for images, _ in loader:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        views = [images, *(TTA_VIEWS[name](images) for name in tta)]
        with torch.autocast(**autocast):
            probabilities = sum(model(view).float().softmax(dim=1) for view in views) / len(views)
        classes.append(probabilities.argmax(dim=1).cpu())
    return torch.cat(classes)


def write_predictions(path: Path, ids: list[str], classes: torch.Tensor, labels: list[str],
                      columns: tuple[str, str]) -> None:
    """``<id column>,<target column>`` rows in the test ids' order (the sample submission's, if given)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows((image_id, labels[index]) for image_id, index in zip(ids, classes.tolist(), strict=True))
