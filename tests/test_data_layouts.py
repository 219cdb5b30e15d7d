"""The layouts users keep their data in, recognised by ``data=auto``: each trains end to end and validates on
exactly the images its validation split names; a drawn split is the same for every seed; pretrained weights that
cannot be had stop the pre-flight."""

import csv
import json

import pytest
from conftest import compose
from layout_data import CLASSES, LAYOUT_OF, SPLIT_SIZES, WRITERS, hf_dataset_dict, write_imagenet

from hpsweep.core.errors import ConfigError
from hpsweep.data.layouts import NAMES
from hpsweep.sweep.job import run
from hpsweep.train.checks import validate
from hpsweep.train.data import data_problems
from hpsweep.train.loop import build_data

TRAIN_IMAGES = SPLIT_SIZES["train"] * len(CLASSES)
SMALL = ["data.num_workers=0", "logger.mode=disabled", "trainer.max_epochs=1", "data.batch_size=8"]


@pytest.fixture(autouse=True)
def no_hub(tmp_path, monkeypatch):
    """Nothing downloaded: the hub clients offline, with an empty cache of their own."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """Every layout's data set, written once: name -> (root, the validation ids it gives)."""
    top = tmp_path_factory.mktemp("layouts")
    return {name: (top / name, write(top / name)) for name, write in WRITERS.items()}


def validated_on(run_dir) -> set[str]:
    with open(run_dir / "val_probabilities.csv") as handle:
        return {row[0] for row in list(csv.reader(handle))[1:]}


@pytest.mark.parametrize("layout", WRITERS)
def test_each_layout_trains_and_validates_on_its_own_validation_split(layout, layouts, in_process_job, tmp_path):
    root, expected = layouts[layout]
    cfg = in_process_job("data=auto", f"data.root={root}", *SMALL)
    run(cfg, tmp_path / "run")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "completed"
    assert result["provenance"]["data"]["layout"] == f"auto:{LAYOUT_OF.get(layout, layout)}", "recognised, not named"
    assert (result["setup"]["train_images"], result["setup"]["val_images"]) == (TRAIN_IMAGES, len(expected))
    assert validated_on(tmp_path / "run") == expected, "exactly the images the data's validation split names"
    assert result["validation"]["split"] == "given" and result["validation"]["split_seed"] is None
    assert {"test_acc", "test_f1"} <= set(result["metrics"]), "the labelled test split is scored as held out"
    assert 0 <= result["metrics"]["test_acc"] <= 1
    with open(tmp_path / "run" / "predictions.csv") as handle:
        assert len(list(csv.DictReader(handle))) == SPLIT_SIZES["test"] * len(CLASSES), "and predicted"


def test_every_seed_validates_on_val_and_the_result_records_it(layouts, in_process_job, tmp_path):
    root, expected = layouts["imagenet"]
    records = []
    for seed in (1, 2):
        cfg = in_process_job("data=auto", f"data.root={root}", f"seed={seed}", *SMALL)
        run(cfg, tmp_path / f"seed-{seed}")
        assert validated_on(tmp_path / f"seed-{seed}") == expected
        records.append(json.loads((tmp_path / f"seed-{seed}" / "result.json").read_text())["validation"])
    assert records[0] == records[1], "replicates that validate on the same images record the same digest"


def test_image_folder_at_train_takes_val_beside_it_and_a_labelled_test(layouts, tmp_path):
    expected = write_imagenet(tmp_path / "data", val_name="validation")
    data = build_data(compose("model=test_resnet", "data=image_folder", f"data.root={tmp_path / 'data' / 'train'}",
                              *SMALL, "data.image_size=16"))
    assert set(data.val_ids) == expected == {f"validation/{name}/{number}.png" for name in CLASSES
                                             for number in range(SPLIT_SIZES["val"])}
    assert len(data.train_loader.dataset) == TRAIN_IMAGES and data.test_labelled
    assert data.validation["split"] == "given"


@pytest.mark.parametrize("data", ["digits", "class_folders"])
def test_two_seeds_draw_the_same_split_unless_split_seed_says_otherwise(data, layouts, tmp_path):
    chosen = ["data=digits"] if data == "digits" else \
        ["data=image_folder", f"data.root={layouts['imagenet'][0] / 'train'}", "data.val_dir=null"]

    def validation(*overrides):
        return build_data(compose("model=test_resnet", *chosen, *SMALL, "data.image_size=16", *overrides)).validation

    first, second = validation("seed=1"), validation("seed=2")
    assert first == second and first["split"] == "drawn" and first["split_seed"] == 0
    other = validation("seed=1", "data.split_seed=1")
    assert other["images"] != first["images"] and other["split_seed"] == 1
    assert validation("seed=1", "fold=fold2")["images"] != validation("seed=1", "fold=fold3")["images"]


def test_a_hugging_face_dataset_of_one_split_draws_its_validation(tmp_path):
    from datasets import DatasetDict

    from hpsweep.data.hf_datasets import index_dataset

    DatasetDict(train=hf_dataset_dict()["train"]).save_to_disk(str(tmp_path / "saved"))
    index = index_dataset(str(tmp_path / "saved"))
    assert not index.problems and index.validation is None and not index.test_paths
    assert (len(index.paths), index.class_names) == (TRAIN_IMAGES, list(CLASSES))
    missing = index_dataset(str(tmp_path / "saved"), image_column="img")
    assert missing.problems == [f"data.root={str(tmp_path / 'saved')!r}: split 'train' has no column img (its "
                                "columns: image, label); set data.image_column / data.label_column"]


def test_the_competition_layout_under_auto_draws_its_split_and_keeps_its_submission_columns(tmp_path):
    from competition_data import write_competition

    root = write_competition(tmp_path / "competition")
    data = build_data(compose("model=test_resnet", "data=auto", f"data.root={root}", *SMALL, "data.image_size=16"))
    assert data.submission_columns == ("ID", "target") and len(data.test_ids) == 12
    assert data.validation["split"] == "drawn" and data.validation["count"] == len(data.val_ids) == 26


def test_a_drawn_split_asked_of_data_that_gives_one_is_named(layouts):
    root, _ = layouts["csv_split"]
    problems = data_problems(compose("model=test_resnet", "data=auto", f"data.root={root}", "fold=fold1").data)
    assert problems == [f"the data gives its validation split ({root / 'labels.csv'} (9 val rows)), used as it is: "
                        "data.n_folds=5, data.fold=1 apply only where the data gives none; leave it null (the fold "
                        "category too)"]


def test_a_folder_of_no_known_layout_gets_one_error_naming_every_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("not images")
    problems = data_problems(compose("model=test_resnet", "data=auto", f"data.root={tmp_path}").data)
    assert len(problems) == 1 and problems[0].startswith(f"data.root={str(tmp_path)!r} is in no layout")
    assert all(f"* {name}: " in problems[0] for name in NAMES)
    named = data_problems(compose("model=test_resnet", "data=auto", f"data.root={tmp_path}",
                                  "data.layout=imagenet2").data)
    assert named == [f"data.layout='imagenet2': expected auto or one of {', '.join(NAMES)}"]


def test_a_model_without_its_pretrained_weights_stops_the_preflight(layouts):
    cfg = compose("model=resnet50.tv2_in1k", "data=auto", f"data.root={layouts['imagenet'][0]}")
    with pytest.raises(ConfigError) as raised:
        validate(cfg)
    message = str(raised.value)
    assert "model resnet50.tv2_in1k (model.pretrained=true): pretrained weights for 'resnet50.tv2_in1k' are not " \
           "in the local cache and HF_HUB_OFFLINE is set" in message
    assert "model.checkpoint_path=" in message and "model.pretrained=false" in message and "HF_HOME" in message
    validate(compose("model=resnet50.tv2_in1k", "model.pretrained=false"))  # from scratch: nothing to find


def test_a_sweeps_preflight_names_each_model_without_weights_once():
    from hpsweep.core.trainings import Row, Training
    from hpsweep.sweep.preflight import job_problems

    models = ["resnet50.tv2_in1k", "resnet50.tv2_in1k", "test_resnet"]
    trainings = [Training((f"model={model}", f"seed={seed}"), (Row(model, None, "base"),))
                 for seed, model in enumerate(models)]
    problems = job_problems(trainings, [compose(*training.overrides) for training in trainings])
    assert len(problems) == 1 and problems[0].startswith(
        "trainings 0, 1 (2 trainings): model resnet50.tv2_in1k (model.pretrained=true): pretrained weights"), problems


def test_a_compressed_shard_is_named_not_misread(tmp_path):
    import tarfile

    from hpsweep.data.shards import index_shards

    (tmp_path / "0.png").write_bytes(b"image")
    with tarfile.open(tmp_path / "train-000000.tar", "w:gz") as tar:  # a .tar.gz under the .tar name
        tar.add(tmp_path / "0.png", "0.png")
    index = index_shards(str(tmp_path))
    assert len(index.problems) == 1 and index.problems[0].startswith(
        f"shard {tmp_path / 'train-000000.tar'} cannot be read: ReadError"), index.problems


@pytest.mark.slow
def test_a_seed_sweep_on_a_hugging_face_folder_validates_every_replicate_on_its_split(layouts, tmp_path):
    import os

    from test_sweeps import results, run_sweep

    root, expected = layouts["hf_saved"]
    env = {**os.environ, "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    finished = run_sweep(tmp_path / "sweep", "seed=1,2", "category=loss_function", "hydra.sweeper.racing=false",
                         "data=auto", f"data.root={root}", *SMALL, env=env)
    assert finished.returncode == 0, finished.stderr[-3000:]
    found = results(tmp_path / "sweep")
    assert len(found) == 6 and all(result["status"] == "completed" for result in found.values()), sorted(found)
    assert {json.dumps(result["validation"], sort_keys=True) for result in found.values()} == {json.dumps(
        {"count": len(expected), "images": found["test_resnet/base/seed-1"]["validation"]["images"],
         "split": "given", "split_seed": None}, sort_keys=True)}, "every replicate, every row: the same images"
    for directory in found:
        assert validated_on(tmp_path / "sweep" / directory) == expected
