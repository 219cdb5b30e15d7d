"""Users' own images: the competition's CSV layout and image folders, folds, augmentation, class balance,
predictions, and every kind of bad input caught before training."""

import csv
import json
from collections import Counter

import pytest
import torch
from competition_data import CLASSES, write_competition, write_image_folder
from conftest import compose, run_experiments
from test_sweeps import results, run_sweep
from wandb_records import read_records

from hpsweep.train.data import data_problems, make_loaders
from hpsweep.train.predictions import TTA_VIEWS
from hpsweep.validation import TTA_VIEWS as TTA_NAMES


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return write_competition(tmp_path_factory.mktemp("competition"))


def csv_overrides(root):
    return ["data=csv", f"data.root={root}", "data.meta_csv=meta.csv", "data.test_dir=test",
            "data.sample_submission=sample_submission.csv", "data.num_workers=0", "data.image_size=32",
            "data.batch_size=32"]


@pytest.mark.slow
def test_competition_layout_trains_on_a_fold_and_writes_a_submission(competition, tmp_path):
    run_dir = tmp_path / "run"
    finished = run_experiments(run_dir, *csv_overrides(competition), "fold=fold1", "augmentation=documents",
                               "data.balance=loss", "loss_function=Focal", "trainer.tta=[hflip,rot90]",
                               "trainer.max_epochs=2")
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed"
    setup = result["setup"]
    assert (setup["train_images"], setup["val_images"]) == (136, 34), "fold 1 of 5 over 170 images"
    assert len(setup["class_weights"]) == CLASSES and setup["loss_function"] == "FocalLoss"
    assert result["run_name"].startswith("loss_FocalLoss_alpha2.0_gamma1.0_aug_documents_fold1of5_")

    with open(competition / "sample_submission.csv") as handle:
        expected_ids = [row["ID"] for row in csv.DictReader(handle)]
    with open(run_dir / "predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["ID", "target"]
    assert [row["ID"] for row in rows] == expected_ids, "the sample submission's order"
    assert all(0 <= int(row["target"]) < CLASSES for row in rows), "targets as train.csv writes them"
    assert result["predictions"] == str(run_dir / "predictions.csv")
    kinds = {record.WhichOneof("record_type") for record in read_records(
        next(run_dir.glob("wandb/offline-run-*/run-*.wandb")))}
    assert "artifact" in kinds, "the submission is logged to W&B as an artifact"


@pytest.mark.slow
def test_augmentation_category_sweeps_an_image_folder(tmp_path):
    root = write_image_folder(tmp_path / "images")
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, "category=augmentation", "data=image_folder", f"data.root={root}",
                         "data.num_workers=0", "data.cache_images=true", "data.batch_size=8",
                         "data.balance=sampler", "trainer.max_epochs=1")
    assert finished.returncode == 0, finished.stderr[-3000:]
    found = results(sweep_dir)
    assert sorted(found) == ["test_resnet/augmentation/documents", "test_resnet/augmentation/light",
                             "test_resnet/augmentation/none", "test_resnet/base"], "the base is their reference"
    assert all(result["status"] == "completed" for result in found.values())


def test_balanced_sampler_draws_classes_evenly():
    labels = [0] * 90 + [1] * 10
    dataset = torch.utils.data.TensorDataset(torch.zeros(100, 1), torch.tensor(labels))
    loader, _ = make_loaders(dataset, dataset, labels, batch_size=100, num_workers=0, seed=0, balance="sampler")
    drawn = Counter(label for _ in range(20) for label in next(iter(loader))[1].tolist())
    assert 0.4 < drawn[1] / sum(drawn.values()) < 0.6, drawn


def test_tta_names_match_the_views():
    assert tuple(TTA_VIEWS) == TTA_NAMES


def break_copy(competition, tmp_path, change):
    """A copy of the competition data with one thing broken by ``change(root)``."""
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(competition, root)
    change(root)
    return root


def first_train_image(root):
    with open(root / "train.csv") as handle:
        return next(csv.DictReader(handle))["ID"]


@pytest.mark.parametrize(("change", "overrides", "expected"), [
    (lambda root: (root / "train" / first_train_image(root)).unlink(), [], "does not exist"),
    (lambda root: (root / "train" / first_train_image(root)).write_bytes(b"not a png"), [], "cannot be read"),
    (lambda root: (root / "train.csv").write_text("image,label\na.png,1\n"), [],
     "train.csv has no column 'ID', 'target' (its columns: image, label)"),
    (lambda root: (root / "train.csv").open("a").write("extra.png,99\n"), [],
     "train.csv line 172: target='99' is not in meta.csv"),
    (lambda root: None, ["fold=fold1", "data.n_folds=20"], "class 'shape_0' has 10 images, fewer than data.n_folds=20"),
    (lambda root: None, ["data.n_folds=5", "data.fold=5"], "data.fold=5: expected an integer from 0 to 4"),
    (lambda root: (root / "test" / "test000.png").unlink(), [], "test000.png does not exist"),
], ids=["missing_image", "unreadable_image", "csv_columns", "unknown_label", "too_many_folds", "fold_range",
        "missing_test_image"])
def test_bad_data_is_named_before_training(competition, tmp_path, change, overrides, expected):
    root = break_copy(competition, tmp_path, change)
    problems = data_problems(compose("model=test_resnet", *csv_overrides(root), *overrides).data)
    assert any(expected in problem for problem in problems), problems


def test_empty_class_folder_and_missing_root_are_named(tmp_path):
    root = write_image_folder(tmp_path / "images", classes=2)
    (root / "class_empty").mkdir()
    problems = data_problems(compose("data=image_folder", f"data.root={root}").data)
    assert problems == [f"class folder {root / 'class_empty'} holds no images (.jpg, .jpeg, .png, .bmp, .gif, "
                        ".tif, .tiff, .webp)"]
    assert "is not a directory" in data_problems(compose("data=image_folder", "data.root=/nowhere").data)[0]


def test_digits_refuse_augmentation():
    assert data_problems(compose("augmentation=light").data) == [
        "data=digits does not augment: the augmentation options apply to data=image_folder and data=csv"]


@pytest.mark.slow
def test_a_sweep_scans_the_data_before_any_job(competition, tmp_path):
    root = break_copy(competition, tmp_path, lambda root: (root / "train" / first_train_image(root)).unlink())
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, "category=optimizer", *csv_overrides(root))
    assert finished.returncode == 1 and "does not exist" in finished.stderr
    assert results(sweep_dir) == {}
