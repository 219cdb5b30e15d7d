"""Predictions for a data set's test images with the best weights, optionally averaged over flips and
rotations (test-time augmentation), written in the sample submission's format."""

from pathlib import Path

import torch
from torchvision.transforms.functional import gaussian_blur

from hpsweep.core.errors import ConfigError, first_line
from hpsweep.core.records import BEST_WEIGHTS_FILE, VAL_PROBABILITIES_FILE, read_probabilities, write_csv_atomic
from hpsweep.data import image_files
from hpsweep.train import models
from hpsweep.train.data import ImageFiles, build_transforms

TTA_VIEWS = {
    "hflip": lambda images: images.flip(3),
    "vflip": lambda images: images.flip(2),
    "rot90": lambda images: images.rot90(1, (2, 3)),
    "rot180": lambda images: images.rot90(2, (2, 3)),
    "rot270": lambda images: images.rot90(3, (2, 3)),
}
DISTORTIONS = (*TTA_VIEWS, "blur", "noise")  # views of the validation set that damaged test images may look like


def distort(name: str, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A normalised batch seen through one distortion: a TTA view, a blur, or sensor noise drawn from
    ``generator`` (so the same every epoch)."""
    if name in TTA_VIEWS:
        return TTA_VIEWS[name](images)
    if name == "blur":
        return gaussian_blur(images, kernel_size=[7, 7], sigma=[1.5, 1.5])
    if name == "noise":
        return images + 0.5 * torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    raise ValueError(f"data.val_distortions: {name!r} is none of {', '.join(DISTORTIONS)}")


@torch.inference_mode()
def predict(model, loader, device, autocast: dict, memory_format, tta: list[str],
            distortion: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The class probabilities of every image of ``loader`` (softmax averaged over the image and its TTA views),
    and the loader's labels; with ``distortion``, of every image seen through it first. Rotations by 90 and
    270 degrees need square inputs, which hpsweep's transforms give."""
    model.eval()
    probabilities, labels = [], []
    generator = torch.Generator(device=device).manual_seed(0)
    for images, targets in loader:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        if distortion is not None:
            images = distort(distortion, images, generator)
        views = [images, *(TTA_VIEWS[name](images) for name in tta)]
        with torch.autocast(**autocast):
            probabilities.append((sum(model(view).float().softmax(dim=1) for view in views) / len(views)).cpu())
        labels.append(torch.as_tensor(targets))
    return torch.cat(probabilities), torch.cat(labels)


def write_predictions(path: Path, ids: list[str], probabilities: torch.Tensor, labels: list[str],
                      columns: tuple[str, str]) -> None:
    """``<id column>,<target column>`` rows in the test ids' order (the sample submission's, if given)."""
    classes = probabilities.argmax(dim=1).tolist()
    write_csv_atomic(path, list(columns), ((image_id, labels[index]) for image_id, index in zip(ids, classes,
                                                                                                strict=True)))


def write_probabilities(path: Path, ids: list[str], probabilities: torch.Tensor, labels: list[str],
                        id_column: str = "id", targets: list[str] | None = None) -> None:
    """One row per image: its id, its target where known, and one probability per class (column named by the
    class's label)."""
    target = ["target"] if targets is not None else []
    rows = ([image_id, *([targets[number]] if target else []), *(f"{value:.6g}" for value in row)]
            for number, (image_id, row) in enumerate(zip(ids, probabilities.tolist(), strict=True)))
    write_csv_atomic(path, [id_column, *target, *labels], rows)


def predict_folder(run_dir: Path, images_dir: Path, out: Path, tta: list[str] | None = None) -> Path:
    """``hpsweep predict``: a finished run's best weights predict every image of ``images_dir`` (on a GPU when
    there is one), written as ``id,label,<one probability per class>``. The run's own config builds the model
    and the evaluation transform; ``tta`` defaults to the run's ``trainer.tta``."""
    from omegaconf import OmegaConf
    from torch.utils.data import DataLoader

    config, weights, classes = (run_dir / ".hydra/config.yaml", run_dir / BEST_WEIGHTS_FILE,
                                run_dir / VAL_PROBABILITIES_FILE)
    missing = [str(path) for path in (config, weights, classes) if not path.is_file()]
    if missing:
        raise ConfigError([f"{path} does not exist: {run_dir} is not a finished run (trainer.save_best_model=true "
                           "keeps its weights)" for path in missing])
    if not images_dir.is_dir():
        raise ConfigError([f"{images_dir} is not a folder of images"])
    paths = image_files.images_in(images_dir)
    if not paths:
        raise ConfigError([f"{images_dir} holds no images ({', '.join(image_files.IMAGE_SUFFIXES)})"])
    cfg = OmegaConf.load(config)
    found = read_probabilities(classes, with_target=True)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # cut short, empty, garbage or more than weights: torch raises one of several kinds
        unreadable = f"{weights} could not be read ({type(error).__name__}: {first_line(error)})"
        raise ConfigError([f"{unreadable}: left as it is; train {run_dir} again to predict with it"]) from error
    if found is None:
        raise ConfigError([f"{classes} could not be read: left as it is; train {run_dir} again to predict with it"])
    labels = found[0][2:]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = models.create_model(OmegaConf.merge(cfg.model, {"pretrained": False, "checkpoint_path": None}),
                                num_classes=len(labels), image_size=cfg.data.image_size)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:  # weights of another model, or not weights
        raise ConfigError([f"{weights} holds no weights of this run's model ({first_line(error)}): "
                           f"left as it is; train {run_dir} again to predict with it"]) \
            from error
    model.to(device)
    _, transform = build_transforms(cfg.data.image_size, augmentation=None, resize=cfg.data.get("resize", "squash"),
                                    fill=cfg.data.get("pad_fill", 255),
                                    **models.data_arguments(cfg.data, cfg.model.name))
    loader = DataLoader(ImageFiles(paths, [-1] * len(paths), transform), batch_size=cfg.data.batch_size)
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    views = list(cfg.trainer.get("tta") or []) if tta is None else tta
    probabilities, _ = predict(model, loader, device, autocast, torch.preserve_format, views)
    ids = [path.name for path in paths]
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = ([image_id, labels[row.index(max(row))], *(f"{value:.6g}" for value in row)]
            for image_id, row in zip(ids, probabilities.tolist(), strict=True))
    write_csv_atomic(out, ["id", "label", *labels], rows)
    return out
