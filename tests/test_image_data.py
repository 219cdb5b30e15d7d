"""Users' own images: the competition's CSV layout and image folders, folds, augmentation, class balance,
predictions, and every kind of bad input caught before training."""

import csv
import json
import logging
from collections import Counter

import pytest
import torch
from competition_data import CLASSES, write_competition, write_image_folder
from conftest import compose, option_names, run_experiments
from test_faults import damage
from test_sweeps import results, run_sweep
from wandb_records import read_records

from hpsweep.train.data import data_problems, make_loaders
from hpsweep.train.predictions import TTA_VIEWS
from hpsweep.train.validation import TTA_VIEWS as TTA_NAMES


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
    options = [f"test_resnet/augmentation/{name}" for name in option_names("augmentation") if name != "none"]
    assert len(options) >= 5 and sorted(found) == sorted([*options, "test_resnet/base"]), \
        "every option, timm's policies too; the base is their reference, and none is the base's training"
    assert {row["option"] for row in found["test_resnet/base"]["rows"]} == {"base", "none"}
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


def test_without_augmentation_training_sees_exactly_what_evaluation_sees():
    from PIL import Image

    from hpsweep.train.data import build_transforms

    page = Image.new("RGB", (30, 60), "white")  # a portrait page with a dark heading along its top
    page.paste((0, 0, 0), (0, 0, 30, 10))
    none = compose("data=csv", "data.root=x", "augmentation=none").data.augmentation
    for resize in ("squash", "pad", "crop"):
        train, evaluation = build_transforms(32, (0.5,) * 3, (0.5,) * 3, none, resize, 255)
        assert torch.equal(train(page), evaluation(page)), resize
    squashed = build_transforms(32, (0.5,) * 3, (0.5,) * 3, none, "squash")[1](page)
    assert squashed[0, :4].mean() < -0.9 and squashed[0, 8:].mean() > 0.9, "the whole page, heading included"
    padded = build_transforms(32, (0.5,) * 3, (0.5,) * 3, none, "pad", 255)[1](page)
    assert padded[0, :, :6].mean() > 0.9 and padded[0, :3, 10:22].mean() < -0.9, "aspect kept, white margins"
    cropped = build_transforms(32, (0.5,) * 3, (0.5,) * 3, none, "crop")[1](page)
    assert cropped[0].min() > 0.9, "timm's centre crop cuts the heading off a portrait page"
    light = compose("data=csv", "data.root=x", "augmentation=light").data.augmentation
    train, evaluation = build_transforms(32, (0.5,) * 3, (0.5,) * 3, light, "squash")
    assert len(train.transforms) > len(evaluation.transforms), "an augmentation adds random operations"


@pytest.mark.parametrize("option", [name for name in option_names("augmentation") if name != "none"])
def test_each_augmentation_option_is_timms_training_transform_with_its_keys(option):
    from PIL import Image

    from hpsweep.train.data import build_transforms

    cfg = compose("data=csv", "data.root=x", f"augmentation={option}", "model=test_resnet")
    augmentation = cfg.data.augmentation
    train, evaluation = build_transforms(32, (0.5,) * 3, (0.5,) * 3, augmentation, "squash")
    names = [type(step).__name__ for step in train.transforms]
    assert "RandomResizedCropAndInterpolation" in names, "timm's crop, from the image"
    policy = augmentation.get("auto_augment") or ""
    assert ("RandAugment" in names) == policy.startswith("rand"), names
    assert ("AugMixAugment" in names) == policy.startswith("augmix"), names
    assert ("RandomErasing" in names) == bool(augmentation.get("re_prob")), names
    assert ("RandomRotation" in names) == bool(augmentation.get("rotation")), "hpsweep's rotation, where asked"
    page = Image.new("RGB", (300, 200), "white")
    assert train(page).shape == evaluation(page).shape == (3, 32, 32)


def test_timms_imagenet_randaugment_runs_at_its_top_magnitude():
    from PIL import Image
    from timm.data.auto_augment import rand_augment_transform

    # rand-...-inc1 posterizes to 0 bits at magnitude 10: Pillow 13 refuses it, so pyproject pins Pillow 12
    strongest = rand_augment_transform("rand-n1-m10-mstd0-p1.0", {}, transforms=["PosterizeIncreasing"])
    assert strongest(Image.new("RGB", (8, 8), "white")).getpixel((0, 0)) == (0, 0, 0)


def test_evaluation_follows_the_models_pretrained_crop_and_interpolation():
    from torchvision import transforms

    from hpsweep.train.data import build_transforms
    from hpsweep.train.models import data_arguments

    cfg = compose("data=csv", "data.root=x", "data.resize=crop", "model=test_resnet")
    arguments = data_arguments(cfg.data, cfg.model.name)
    assert (arguments["interpolation"], arguments["crop_pct"]) == ("bilinear", 0.95), "timm's test_resnet config"
    _, evaluation = build_transforms(32, augmentation=None, resize="crop", **arguments)
    resize = next(step for step in evaluation.transforms if isinstance(step, transforms.Resize))
    assert resize.size == 33 and resize.interpolation == transforms.InterpolationMode.BILINEAR, "32 / 0.95"
    chosen = data_arguments(compose("data=csv", "data.root=x", "data.crop_pct=1.0", "data.interpolation=bicubic").data,
                            cfg.model.name)
    assert (chosen["interpolation"], chosen["crop_pct"]) == ("bicubic", 1.0), "the data option's own values win"


def test_the_layouts_conventional_files_are_found_and_null_turns_one_off(competition, caplog):
    from hpsweep.data.image_files import index_csv

    with caplog.at_level("INFO"):
        index = index_csv(str(competition), "train.csv", "train", "ID", "target", "auto", "auto", "auto")
    assert index.class_names[0] == "shape_0" and len(index.test_paths) == 12 and not index.problems
    assert "data.sample_submission=auto: using" in caplog.text
    assert index_csv(str(competition), "train.csv", "train", "ID", "target", "auto", None, "auto").test_paths == []
    assert index_csv(str(competition), "train.csv", "train", "ID", "target", None, "auto", "auto") \
        .class_names[0] == "0", "meta.csv off: the targets name the classes"


@pytest.mark.slow
def test_fold_sweep_scores_distorted_validation_keeps_probabilities_predicts_and_ensembles(competition, tmp_path,
                                                                                           capsys, caplog):
    from hpsweep.cli import main

    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, "category=fold", "data=csv", f"data.root={competition}", "data.image_size=32",
                         "data.batch_size=16", "data.num_workers=0", "optimizer.lr=0.005", "trainer.max_epochs=6",
                         "data.val_distortions=[noise,blur]", "trainer.tta=[rot90,rot180]", "augmentation=none")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "data.test_dir=auto: using" in finished.stdout, "the layout's test folder, found and said"
    runs = sorted(path.parent for path in sweep_dir.glob("**/result.json"))
    assert len(runs) == 5
    for run in runs:
        metrics = json.loads((run / "result.json").read_text())["metrics"]
        assert metrics["val_f1_distorted"] != metrics["val_f1"], "noise and blur it never saw in training"
        assert {"val_f1_tta", "val_f1_distorted_tta"} <= set(metrics)
        history = (run / "history.csv").read_text().splitlines()[0]
        assert "val_f1_distorted" in history
        for name in ("val_probabilities.csv", "test_probabilities.csv"):
            with open(run / name) as handle:
                rows = list(csv.reader(handle))
            first = 2 if name.startswith("val") else 1
            assert all(abs(sum(map(float, row[first:])) - 1) < 1e-4 for row in rows[1:]), "each row sums to 1"
        with open(run / "test_probabilities.csv") as handle:
            reader = csv.reader(handle)
            classes = next(reader)[1:]
            argmax = {row[0]: classes[max(range(len(classes)), key=lambda k: float(row[1 + k]))] for row in reader}
        with open(run / "predictions.csv") as handle:
            assert {row["ID"]: row["target"] for row in csv.DictReader(handle)} == argmax
    val_ids = [set(row.split(",")[0] for row in (run / "val_probabilities.csv").read_text().splitlines()[1:])
               for run in runs]
    assert sum(map(len, val_ids)) == len(set().union(*val_ids)) == CLASSES * 10, "folds: every image once"

    out = tmp_path / "predicted.csv"
    assert main(["predict", str(runs[0]), str(competition / "test"), "--out", str(out)]) == 0
    with open(out) as handle:
        predicted = {row["id"]: row for row in csv.DictReader(handle)}
    with open(runs[0] / "test_probabilities.csv") as handle:
        for row in csv.DictReader(handle):
            assert all(abs(float(predicted[row["ID"]][label]) - float(value)) < 1e-4
                       for label, value in row.items() if label != "ID"), "the run's own test probabilities"

    submission = tmp_path / "submission.csv"
    assert main(["ensemble", str(sweep_dir), "--out", str(submission)]) == 0
    with open(submission) as handle, open(competition / "sample_submission.csv") as sample:
        rows, expected = list(csv.DictReader(handle)), list(csv.DictReader(sample))
    assert list(rows[0]) == ["ID", "target"] and [row["ID"] for row in rows] == [row["ID"] for row in expected]
    assert all(0 <= int(row["target"]) < CLASSES for row in rows)

    # A probability file cut short (a full disk, a copy interrupted) leaves that run out, and says so.
    capsys.readouterr()
    damage(runs[1] / "test_probabilities.csv", "truncated")
    with caplog.at_level(logging.WARNING):
        assert main(["ensemble", str(sweep_dir), "--out", str(submission)]) == 0
    assert "ensemble of 4 runs" in capsys.readouterr().out and str(runs[1]) not in submission.read_text()
    assert f"{runs[1] / 'test_probabilities.csv'} could not be read (cut short): left as it is" in caplog.text
    assert not list(runs[1].glob("test_probabilities.csv.corrupt-*")), "a command that only reads moves nothing"


def test_ids_without_their_extension_are_one_problem_that_says_what_an_id_is(competition, tmp_path):
    """The csv layout's ids are file names with their extension: a CSV of bare ids is one problem, not one line
    per image."""
    def bare_ids(root):
        text = (root / "train.csv").read_text()
        (root / "train.csv").write_text(text.replace(".png,", ","))
    root = break_copy(competition, tmp_path, bare_ids)
    problems = data_problems(compose("model=test_resnet", *csv_overrides(root)).data)
    missing = [problem for problem in problems if "not exist" in problem]
    assert len(missing) == 1, problems
    first = first_train_image(root)
    assert missing[0].startswith("170 of 182 listed images do not exist")
    assert f"{first}.png is there; an id is the image's whole file name, extension included (the csv layout's " \
           f"rules: an id column of {first}.png, not {first})" in missing[0]
