"""Data sets as train/validation (and test) DataLoaders of normalised images at the configured size.

``digits`` is bundled with scikit-learn (no download); ``image_folder``, ``csv`` and ``auto`` (every layout of
``hpsweep.data.layouts``) read the user's images with timm's transforms. A validation split the data gives is
used as it is; where it gives none, all draw one the same way: a stratified validation fraction, or fold ``fold``
of ``n_folds`` stratified folds, drawn by ``split_seed`` (not ``seed``: seed replicates validate on the same
images). Every result records which images it validated on (``ImageData.validation``).
"""

import math
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from hpsweep.core.errors import ConfigError
from hpsweep.data import image_files
from hpsweep.data.layouts import index_layout, index_of
from hpsweep.data.splits import given_split_problems, split_indices, split_problems, validation_record
from hpsweep.train.validation import TIMM_AUGMENTATION_KEYS

BALANCE_MODES = ("none", "loss", "sampler")


@dataclass
class ImageData:
    train_loader: DataLoader
    val_loader: DataLoader
    class_names: list[str]
    val_ids: list[str]  # each validation image's id, in the validation loader's order
    class_counts: list[int] = field(default_factory=list)  # training images per class
    test_loader: DataLoader | None = None
    test_ids: list[str] = field(default_factory=list)
    prediction_labels: list[str] | None = None  # what predictions.csv writes per class (default: class names)
    submission_columns: tuple[str, str] = ("id", "target")
    val_distortions: list[str] = field(default_factory=list)  # validation is also scored on these views
    validation: dict = field(default_factory=dict)  # which images it validates on (``validation_record``)
    test_labelled: bool = False  # the data labels its test images: they are scored as a held-out test

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_weights(self) -> torch.Tensor:
        """Inverse-frequency weights (1 on average) for a loss that should not favour frequent classes."""
        counts = torch.tensor(self.class_counts, dtype=torch.float32).clamp(min=1)
        return counts.sum() / (len(counts) * counts)

    def test_scores(self, probabilities: torch.Tensor, targets: torch.Tensor) -> dict:
        """Held-out test accuracy and macro F1 (``test_acc``, ``test_f1``) where the data labels its test
        images; nothing where it does not (they are only predicted)."""
        if not self.test_labelled:
            return {}
        from sklearn.metrics import accuracy_score, f1_score

        predicted, target = probabilities.argmax(dim=1).numpy(), targets.numpy()
        return {"test_acc": float(accuracy_score(target, predicted)),
                "test_f1": float(f1_score(target, predicted, average="macro", labels=list(range(self.num_classes)),
                                          zero_division=0))}


def make_loaders(train_set: Dataset, val_set: Dataset, train_labels: list[int], batch_size: int, num_workers: int,
                 seed: int, balance: str, collate=None) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders; ``balance=sampler`` draws training images inversely to their
    class frequency."""
    if balance not in BALANCE_MODES:
        raise ValueError(f"data.balance={balance!r}: expected one of {', '.join(BALANCE_MODES)}")
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if balance == "sampler":
        counts = Counter(train_labels)
        weights = [1.0 / counts[label] for label in train_labels]
        sampler = WeightedRandomSampler(weights, num_samples=len(weights), generator=generator)
    common = dict(batch_size=batch_size, num_workers=num_workers, persistent_workers=num_workers > 0,
                  pin_memory=torch.cuda.is_available(), collate_fn=collate)
    train_loader = DataLoader(train_set, shuffle=sampler is None, sampler=sampler,
                              generator=generator if sampler is None else None, **common)
    return train_loader, DataLoader(val_set, **common)


class ResizeNormalize:
    """Collate small 3-channel images in [0, 1] into one resized, normalised batch.

    Resizing a whole batch at once is far cheaper than per-image transforms, and keeps the
    stored data set at its native 8x8 size instead of up to 5 GB of upsampled copies.
    """

    def __init__(self, image_size: int, mean: tuple[float, ...], std: tuple[float, ...]):
        self.image_size = image_size
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)

    def __call__(self, samples: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([image for image, _ in samples])
        labels = torch.stack([label for _, label in samples])
        images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return (images - self.mean) / self.std, labels


def digits(image_size: int, batch_size: int, seed: int, mean: tuple[float, ...], std: tuple[float, ...],
           val_fraction: float = 0.15, n_folds: int | None = None, fold: int | None = None, num_workers: int = 0,
           balance: str = "none", val_distortions=(), augmentation=None, split_seed: int = 0) -> ImageData:
    """scikit-learn's bundled digits as 3-channel images (no augmentation: they are resized per batch, so
    ``augmentation`` is only ever None, which ``data_problems`` checks)."""
    from sklearn.datasets import load_digits

    digits_set = load_digits()
    images = torch.from_numpy(digits_set.images).float().div(16.0).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(digits_set.target).long()
    train_idx, val_idx = split_indices(labels.tolist(), val_fraction, n_folds, fold, split_seed)
    train_labels = labels[train_idx].tolist()
    class_names = [str(name) for name in digits_set.target_names]
    train_loader, val_loader = make_loaders(
        TensorDataset(images[train_idx], labels[train_idx]), TensorDataset(images[val_idx], labels[val_idx]),
        train_labels, batch_size, num_workers, seed, balance,
        collate=ResizeNormalize(image_size, mean, std))
    counts = Counter(train_labels)
    val_ids = [str(index) for index in val_idx]
    return ImageData(train_loader, val_loader, class_names, val_ids,
                     [counts[label] for label in range(len(class_names))],
                     val_distortions=list(val_distortions), validation=validation_record(val_ids, False, split_seed))


class ImageFiles(Dataset):
    """Images read with PIL, from files or through ``opener`` (records, tar members: ``FileIndex.opener``);
    ``cache`` keeps each decoded image, shrunk to at most ``cache_size`` pixels on its longer side, in memory after
    its first read (small data sets only)."""

    def __init__(self, paths: list, labels: list[int], transform, cache_size: int | None = None, opener=None):
        self.paths, self.labels, self.transform, self.cache_size = paths, labels, transform, cache_size
        self.opener = opener or Image.open
        self.cache: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = self.cache.get(index)
        if image is None:
            with self.opener(self.paths[index]) as opened:
                image = opened.convert("RGB")
            if self.cache_size:
                image.thumbnail((self.cache_size, self.cache_size))
                self.cache[index] = image
        return self.transform(image), self.labels[index]


RESIZES = ("squash", "pad", "crop")


class PadToSquare:
    """Pad the shorter side with ``fill`` so the whole image keeps its aspect inside a square."""

    def __init__(self, fill: int):
        self.fill = fill

    def __call__(self, image: Image.Image) -> Image.Image:
        from torchvision.transforms import functional

        width, height = image.size
        side = max(width, height)
        left, top = (side - width) // 2, (side - height) // 2
        return functional.pad(image, [left, top, side - width - left, side - height - top], fill=self.fill)


def build_transforms(image_size: int, mean, std, augmentation, resize: str = "squash", fill: int = 255,
                     interpolation: str = "bicubic", crop_pct: float = 1.0) -> tuple:
    """Training and evaluation transforms from ``timm.data.create_transform``, at the model's interpolation.

    Evaluation by ``resize``: ``squash`` the whole image to the square, ``pad`` it to a square first (aspect kept,
    ``fill`` around it), or ``crop`` (timm's evaluation: the shorter side to ``image_size / crop_pct``, then the
    centre). Training with an augmentation option is timm's training transform with the option's keys (random
    resized crop, flips, colour jitter, AutoAugment/RandAugment/AugMix, random erasing), taken from the image as
    ``resize`` sees it (the padded square under ``pad``, a squashed square large enough for the smallest crop
    under ``squash``), plus ``rotation`` where timm has none. ``augmentation=none`` trains on exactly what
    evaluation sees."""
    from timm.data import create_transform
    from torchvision import transforms

    common = dict(interpolation=interpolation, mean=tuple(mean), std=tuple(std))
    if resize not in RESIZES:
        raise ValueError(f"data.resize={resize!r}: expected one of {', '.join(RESIZES)}")
    square = [PadToSquare(fill)] if resize == "pad" else []
    timm_eval = create_transform(image_size, crop_pct=crop_pct if resize == "crop" else 1.0,
                                 crop_mode="center" if resize == "crop" else "squash", **common)
    evaluation = transforms.Compose([*square, *timm_eval.transforms])
    if augmentation is None:  # no augmentation option chosen: train on the plain resized images
        return evaluation, evaluation
    arguments = {key: augmentation[key] for key in TIMM_AUGMENTATION_KEYS if key in augmentation}
    for key in ("scale", "ratio"):
        if arguments.get(key) is not None:
            arguments[key] = tuple(arguments[key])
    arguments.setdefault("color_jitter", None)  # timm's default jitter is 0.4: an option that wants it says so
    primary, secondary, final = create_transform(image_size, is_training=True, separate=True, **arguments, **common)
    if resize == "squash":  # squashed first, as evaluation sees it, at a size where the smallest crop keeps detail
        smallest = (arguments.get("scale") or (0.08, 1.0))[0]
        side = math.ceil(image_size / math.sqrt(smallest))
        square = [transforms.Resize((side, side), interpolation=transforms.InterpolationMode(interpolation))]
    rotation = augmentation.get("rotation") or 0
    turned = [transforms.RandomRotation(rotation, fill=augmentation.get("fill", 255))] if rotation else []
    return transforms.Compose([*square, *primary.transforms, *turned, *secondary.transforms,
                               *final.transforms]), evaluation


def resolve_workers(num_workers: int | str) -> int:
    """``auto``: up to 4 worker processes, no more than this machine gives the job (torch warns beyond)."""
    if num_workers != "auto":
        return num_workers
    import os

    return min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _file_data(index: image_files.FileIndex, image_size: int, batch_size: int, seed: int, mean, std,
               val_fraction: float | None, n_folds, fold, num_workers: int | str, balance: str, augmentation,
               cache_images: bool, resize: str, pad_fill: int, val_distortions, split_seed: int = 0,
               interpolation: str = "bicubic", crop_pct: float = 1.0, **extra) -> ImageData:
    asked = {"val_fraction": val_fraction, "n_folds": n_folds, "fold": fold}
    problems = index.problems + (given_split_problems(index.given_by, asked) if index.validation is not None else
                                 split_problems(index.labels, index.class_names, n_folds, fold))
    if problems:
        raise ConfigError(problems, summary="the data set cannot be used")
    train_transform, eval_transform = build_transforms(image_size, mean, std, augmentation, resize, pad_fill,
                                                       interpolation, crop_pct)
    if index.validation is not None:  # the data's own split, as it is
        given = set(index.validation)
        train_idx, val_idx = [i for i in range(len(index.labels)) if i not in given], list(index.validation)
    else:
        train_idx, val_idx = split_indices(index.labels, val_fraction, n_folds, fold, split_seed)
    cache_size = 2 * image_size if cache_images else None
    num_workers = resolve_workers(num_workers)

    def subset(indices, transform):
        return ImageFiles([index.paths[i] for i in indices], [index.labels[i] for i in indices], transform,
                          cache_size, index.opener)

    train_labels = [index.labels[i] for i in train_idx]
    train_loader, val_loader = make_loaders(subset(train_idx, train_transform), subset(val_idx, eval_transform),
                                            train_labels, batch_size, num_workers, seed, balance)
    test_loader = None
    if index.test_paths:
        labels = index.test_labels or [-1] * len(index.test_paths)
        test_loader = DataLoader(ImageFiles(index.test_paths, labels, eval_transform, opener=index.opener),
                                 batch_size=batch_size, num_workers=num_workers)
    counts = Counter(train_labels)
    val_ids = [index.ids[i] for i in val_idx]
    return ImageData(train_loader, val_loader, index.class_names, val_ids,
                     [counts[label] for label in range(len(index.class_names))], test_loader, index.test_ids,
                     prediction_labels=index.targets, val_distortions=list(val_distortions or []),
                     validation=validation_record(val_ids, index.validation is not None, split_seed),
                     test_labelled=index.test_labels is not None, **extra)


def image_folder(root: str, image_size: int, batch_size: int, seed: int, mean, std, augmentation=None,
                 val_fraction: float | None = None, n_folds: int | None = None, fold: int | None = None,
                 num_workers: int | str = "auto", balance: str = "none", cache_images: bool = False,
                 test_dir: str | None = "auto", resize: str = "squash", pad_fill: int = 255,
                 val_distortions=(), val_dir: str | None = "auto", split_seed: int = 0,
                 interpolation: str = "bicubic", crop_pct: float = 1.0) -> ImageData:
    """``root/<class>/<image>``, validated on ``val_dir`` (``val/<class>/`` beside root) where there is one;
    predictions for the images of ``test_dir``, by file name (scored too where it holds class folders)."""
    index = image_files.index_image_folder(root, test_dir, val_dir)
    return _file_data(index, image_size, batch_size, seed, mean, std, val_fraction, n_folds, fold, num_workers,
                      balance, augmentation, cache_images, resize, pad_fill, val_distortions, split_seed, interpolation,
                      crop_pct, submission_columns=("id", "target"))


def csv(root: str, image_size: int, batch_size: int, seed: int, mean, std, augmentation=None,
        train_csv: str = "train.csv", images_dir: str = "train", id_column: str = "ID",
        target_column: str = "target", meta_csv: str | None = "auto", test_dir: str | None = "auto",
        sample_submission: str | None = "auto", val_fraction: float = 0.15, n_folds: int | None = None,
        fold: int | None = None, num_workers: int | str = "auto", balance: str = "none",
        cache_images: bool = False, resize: str = "squash", pad_fill: int = 255, val_distortions=(),
        split_seed: int = 0, interpolation: str = "bicubic", crop_pct: float = 1.0) -> ImageData:
    """The competition layout: a CSV of image id and target, images, optional class names and test set;
    predictions are written with the train CSV's target values, in the sample submission's order."""
    index = image_files.index_csv(root, train_csv, images_dir, id_column, target_column, meta_csv, test_dir,
                                  sample_submission)
    return _file_data(index, image_size, batch_size, seed, mean, std, val_fraction, n_folds, fold, num_workers,
                      balance, augmentation, cache_images, resize, pad_fill, val_distortions, split_seed, interpolation,
                      crop_pct, submission_columns=(id_column, target_column))


def auto(root: str, image_size: int, batch_size: int, seed: int, mean, std, augmentation=None,
         layout: str = "auto", image_column: str = "image", label_column: str = "label", split_column: str = "split",
         csv_file: str = "auto", test_dir: str | None = "auto", val_fraction: float | None = None,
         n_folds: int | None = None, fold: int | None = None, num_workers: int | str = "auto",
         balance: str = "none", cache_images: bool = False, resize: str = "squash", pad_fill: int = 255,
         val_distortions=(), split_seed: int = 0, interpolation: str = "bicubic",
         crop_pct: float = 1.0) -> ImageData:
    """Whatever layout ``hpsweep.data.layouts`` recognises at ``root`` (or ``layout`` names)."""
    index = index_layout(root, layout, image_column=image_column, label_column=label_column,
                         split_column=split_column, csv_file=csv_file, test_dir=test_dir)
    return _file_data(index, image_size, batch_size, seed, mean, std, val_fraction, n_folds, fold, num_workers,
                      balance, augmentation, cache_images, resize, pad_fill, val_distortions, split_seed, interpolation,
                      crop_pct, submission_columns=(index.id_column, "target"))


def data_problems(data_cfg) -> list[str]:
    """Everything wrong with the configured data set, found before training: for image files, a scan of
    every image (missing, unreadable), the CSV's columns and labels, empty class folders and the folds."""
    target = str(data_cfg.get("_target_", ""))
    n_folds, fold = data_cfg.get("n_folds"), data_cfg.get("fold")
    problems = []
    if data_cfg.get("resize", "squash") not in RESIZES:
        problems.append(f"data.resize={data_cfg.resize!r}: expected one of {', '.join(RESIZES)}")
    if data_cfg.get("balance", "none") not in BALANCE_MODES:
        problems.append(f"data.balance={data_cfg.balance!r}: expected one of {', '.join(BALANCE_MODES)}")
    if target.endswith(".digits"):
        if data_cfg.get("augmentation") is not None:
            problems.append("data=digits does not augment: the augmentation options apply to data=image_folder "
                            "and data=csv")
        from sklearn.datasets import load_digits

        return problems + split_problems(load_digits().target.tolist(), [str(n) for n in range(10)], n_folds, fold)
    index = index_of(data_cfg)
    if index is None:
        return problems  # a data set of the user's own: its factory checks its input
    if index.validation is not None:
        return problems + image_files.scan(index) + given_split_problems(index.given_by, data_cfg)
    return problems + image_files.scan(index) + split_problems(index.labels, index.class_names, n_folds, fold)
