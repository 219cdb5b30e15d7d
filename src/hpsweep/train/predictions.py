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
def predict(model, loader, device, autocast: dict, memory_format, tta: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The class probabilities of every image of ``loader`` (softmax averaged over the image and its TTA views),
    and the loader's labels. Rotations by 90 and 270 degrees need square inputs, which hpsweep's transforms give."""
    model.eval()
    probabilities, labels = [], []
    for images, targets in loader:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        views = [images, *(TTA_VIEWS[name](images) for name in tta)]
        with torch.autocast(**autocast):
            probabilities.append((sum(model(view).float().softmax(dim=1) for view in views) / len(views)).cpu())
        labels.append(torch.as_tensor(targets))
    return torch.cat(probabilities), torch.cat(labels)


def write_predictions(path: Path, ids: list[str], probabilities: torch.Tensor, labels: list[str],
                      columns: tuple[str, str]) -> None:
    """``<id column>,<target column>`` rows in the test ids' order (the sample submission's, if given)."""
    classes = probabilities.argmax(dim=1).tolist()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows((image_id, labels[index]) for image_id, index in zip(ids, classes, strict=True))


def write_probabilities(path: Path, ids: list[str], probabilities: torch.Tensor, labels: list[str],
                        id_column: str = "id", targets: list[str] | None = None) -> None:
    """One row per image: its id, its target where known, and one probability per class (column named by the
    class's label)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_column, *(["target"] if targets is not None else []), *labels])
        for number, (image_id, row) in enumerate(zip(ids, probabilities.tolist(), strict=True)):
            writer.writerow([image_id, *([targets[number]] if targets is not None else []),
                             *(f"{value:.6g}" for value in row)])
