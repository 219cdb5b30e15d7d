"""How a model does on the validation images: loss, accuracy and macro F1, through each distortion and each
test-time augmentation view as well."""

import torch
from sklearn.metrics import accuracy_score, f1_score

from hpsweep.train.predictions import distort, predict


@torch.inference_mode()
def evaluate(model, loader, device, autocast: dict, memory_format, num_classes: int,
             distortions: list[str] = ()) -> dict:
    """Validation loss, accuracy and macro F1 over ``loader``; with ``distortions``, the same over every image
    seen through each of them as well (``val_*_distorted``), the way damaged test images may look. The loss is
    plain cross-entropy whatever the training loss (timm's train.py validates so too): it compares across loss
    options, mixup and class weights."""
    model.eval()
    criterion = torch.nn.CrossEntropyLoss()
    views = {"": [None], "_distorted": list(distortions)} if distortions else {"": [None]}
    loss_sums = {suffix: torch.zeros((), device=device) for suffix in views}
    predictions = {suffix: [] for suffix in views}
    targets = {suffix: [] for suffix in views}
    generator = torch.Generator(device=device).manual_seed(0)  # the same noise every epoch
    for images, labels in loader:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        for suffix, names in views.items():
            for name in names:
                view = images if name is None else distort(name, images, generator)
                with torch.autocast(**autocast):
                    logits = model(view)
                loss_sums[suffix] += criterion(logits.float(), labels) * labels.size(0)
                predictions[suffix].append(logits.argmax(dim=1))
                targets[suffix].append(labels)
    scores = {}
    for suffix in views:
        predicted, target = torch.cat(predictions[suffix]).cpu().numpy(), torch.cat(targets[suffix]).cpu().numpy()
        scores |= {f"val_loss{suffix}": (loss_sums[suffix] / len(target)).item()} | classification_scores(
            target, predicted, num_classes, suffix)
    return scores


def classification_scores(target, predicted, num_classes: int, suffix: str = "") -> dict:
    """Accuracy and macro F1 (scikit-learn), named ``val_acc<suffix>`` and ``val_f1<suffix>``."""
    return {f"val_acc{suffix}": float(accuracy_score(target, predicted)),
            f"val_f1{suffix}": float(f1_score(target, predicted, average="macro", labels=list(range(num_classes)),
                                              zero_division=0))}


def tta_scores(model, data, device, autocast: dict, memory_format, tta: list[str]) -> dict:
    """Validation accuracy and macro F1 with each prediction averaged over the image and its TTA views
    (``val_*_tta``), and over the distorted validation views as well (``val_*_distorted_tta``)."""
    probabilities, targets = predict(model, data.val_loader, device, autocast, memory_format, tta)
    scores = classification_scores(targets.numpy(), probabilities.argmax(dim=1).numpy(), data.num_classes, "_tta")
    if data.val_distortions:
        seen = [predict(model, data.val_loader, device, autocast, memory_format, tta, name)
                for name in data.val_distortions]
        scores |= classification_scores(torch.cat([labels for _, labels in seen]).numpy(),
                                        torch.cat([probs for probs, _ in seen]).argmax(dim=1).numpy(),
                                        data.num_classes, "_distorted_tta")
    return scores
