"""The plan of a category sweep, from tables: rows (the union over categories, not the product), their
replicates, and the trainings that answer them (the base combination trained once per model)."""

import json

import pytest
from conftest import CONF_DIR, compose
from hydra.core.override_parser.overrides_parser import OverridesParser

from hpsweep.core.errors import ConfigError
from hpsweep.core.fingerprints import fingerprint
from hpsweep.core.trainings import Row, Training, replicate_dict
from hpsweep.sweep.plan import PlanRequest, assign_directories, compared_rows, merge_identical, plan_jobs, rows_of

SEED_MODELS = ",".join(["efficientnet_b4.ra2_in1k", "efficientnet_b3.ra2_in1k", "resnet50.tv2_in1k",
                        "swin_base_patch4_window12_384.ms_in1k"])
DEFAULT_CHOICES = {"model": "efficientnet_b4.ra2_in1k", "data": "digits", "trainer": "default", "logger": "wandb",
                   "optimizer": "AdamW", "scheduler": "CosineAnnealingLR", "loss_function": "CrossEntropy",
                   "image_size": "img320_batch64", "batch_size": None, "early_stopping": "patience10",
                   "augmentation": None, "fold": None}
SEED_CATEGORIES = ["optimizer", "scheduler", "loss_function", "image_size", "batch_size", "early_stopping"]


def real_group_options(group: str) -> list[str]:
    """The options a group has in the project's conf/, as Hydra's config loader lists them."""
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml")) if (CONF_DIR / group).is_dir() else []


def plan(*arguments: str, group_options=real_group_options, choices=DEFAULT_CHOICES) -> list[Training]:
    overrides = OverridesParser.create().parse_overrides(list(arguments))
    return plan_jobs(overrides, PlanRequest(group_options, SEED_CATEGORIES, choices))


@pytest.mark.parametrize(("arguments", "rows", "trainings"), [
    # the seed's matrix: 17 rows per model; the base answers 5 of them (AdamW, Cosine, CE, img320, patience10)
    ((f"model={SEED_MODELS}", "category=all"), 68, 4 * (1 + 17 - 5)),
    ((f"model={SEED_MODELS}", f"category={','.join(SEED_CATEGORIES)}"), 68, 52),
    (("model=test_resnet", "category=optimizer,loss_function"), 2 + 3, 1 + 1 + 2),    # union, not 2 x 3
    (("model=test_resnet,test_efficientnet", "category=optimizer,loss_function"), 2 * 5, 2 * 4),
    (("model=test_resnet", "category=optimizer", "seed=1,2,3"), 2, 2 * 3),        # seeds: replicates of each row
    (("model=test_resnet", "category=optimizer", "seed=1,2", "trainer.max_epochs=5,10"), 2 * 2, 2 * 2 * 2),
    (("model=test_resnet", "category=optimizer,fold"), 2, 2 * 5),                  # folds too, category or not
    (("model=test_resnet", "category=optimizer", "data.n_folds=5", "data.fold=0,1,2,3,4"), 2, 2 * 5),
    (("model=test_resnet", "category=fold"), 1, 5),                                 # a cross-validated base
    (("category=early_stopping",), 3, 3),                                           # the base model
    (("model=glob(test_*)", "category=optimizer"), 2 * 2, 2 * 2),
    (("model=test_resnet", "category=glob(*_size)"), 4 + 3, 1 + 3 + 3),            # batch_size has no base option
    (("model=test_resnet,resnet18", "optimizer=SGD,AdamW"), 2 * 2, 2 * 2),         # no category: the BasicSweeper
    (("model=test_resnet",), 1, 1),
], ids=["seed_all", "seed_listed", "union", "two_models", "seeds", "settings", "fold_category", "data_fold",
        "fold_only", "base_model", "model_glob", "category_glob", "basic_product", "single"])
def test_row_and_training_counts(arguments, rows, trainings):
    planned = plan(*arguments)
    assert len(compared_rows(planned)) == rows
    assert len(planned) == trainings


def test_each_training_sets_exactly_one_category_option_around_the_base_which_is_trained_once():
    trainings = plan("model=test_resnet", "category=optimizer,loss_function", "trainer.max_epochs=3")
    base, *others = trainings
    assert base.is_base and base.overrides == ("model=test_resnet", "trainer.max_epochs=3")
    assert [(row.category, row.option) for row in base.rows] == [
        (None, "base"), ("optimizer", "AdamW"), ("loss_function", "CrossEntropy")]
    assert [(training.category, training.option) for training in others] == [
        ("optimizer", "SGD"), ("loss_function", "Focal"), ("loss_function", "LabelSmoothing")]
    assert others[0].overrides == ("model=test_resnet", "category=optimizer", "optimizer=SGD", "trainer.max_epochs=3")


def test_a_fixed_override_of_the_swept_category_gives_way_to_each_option_and_moves_the_base():
    trainings = plan("model=test_resnet", "category=optimizer,loss_function", "optimizer=SGD")
    base = trainings[0]
    assert ("optimizer", "SGD") in [(row.category, row.option) for row in base.rows], "SGD is now the base's"
    adamw = next(training for training in trainings if training.option == "AdamW")
    assert adamw.overrides == ("model=test_resnet", "category=optimizer", "optimizer=AdamW")
    assert all("optimizer=SGD" in training.overrides for training in trainings if training.category == "loss_function")


def test_replicates_repeat_rows_and_settings_separate_them():
    trainings = plan("model=test_resnet", "category=optimizer", "seed=1,2", "trainer.max_epochs=5,10")
    sgd = [training for training in trainings if training.option == "SGD"]
    assert [(training.setting, training.replicate) for training in sgd] == [
        (("trainer.max_epochs=5",), ("seed=1",)), (("trainer.max_epochs=10",), ("seed=1",)),
        (("trainer.max_epochs=5",), ("seed=2",)), (("trainer.max_epochs=10",), ("seed=2",))]
    assert sgd[0].subdir == "test_resnet/optimizer/SGD/trainer.max_epochs-5_seed-1"
    rows = rows_of(trainings)
    assert Row("test_resnet", "optimizer", "SGD", ("trainer.max_epochs=5",)) in rows
    assert len([row for row in rows if row.category]) == 4, "a row per option and setting, not per seed"


def test_the_fold_category_is_a_replicate_not_a_choice():
    trainings = plan("model=test_resnet", "category=optimizer,fold")
    assert {training.category for training in trainings} == {None, "optimizer"}
    assert [training.replicate for training in trainings if training.is_base] == [
        (f"fold=fold{k}",) for k in range(5)]
    assert replicate_dict(("seed=2", "+fold=fold3")) == {"seed": "2", "fold": "fold3"}


def test_a_new_category_folder_is_sweepable_by_name():
    options = {"model": ["m"], "warmup": ["linear5", "none"]}
    trainings = plan("model=m", "category=warmup", group_options=lambda group: options.get(group, []))
    assert [training.option for training in trainings] == ["base", "linear5", "none"]
    assert trainings[1].overrides == ("model=m", "category=warmup", "+warmup=linear5"), "not in the defaults: added"


def test_unknown_categories_and_models_are_reported_together_with_the_closest_names():
    with pytest.raises(ConfigError) as raised:
        plan("model=test_resnet,nope,test_resnt", "category=optimizer,optimiser")
    message = str(raised.value)
    assert "category='optimiser': no config group of that name has options; closest: optimizer" in message
    assert "model='test_resnt': no model/test_resnt.yaml in the config dir; closest: test_resnet" in message
    assert "model='nope': no model/nope.yaml in the config dir; options: efficientnet_b3.ra2_in1k" in message


@pytest.mark.parametrize(("arguments", "subdirs"), [
    (("model=m", "category=optimizer"), ["m/base", "m/optimizer/SGD"]),
    (("category=optimizer", "seed=2,3"), [f"efficientnet_b4.ra2_in1k/{row}/seed-{seed}"
                                          for row in ("base", "optimizer/SGD") for seed in (2, 3)]),
    (("a=1,2",), [None, None]),  # a plain multirun: the app's own subdir (its job number)
])
def test_training_directories_are_readable(arguments, subdirs):
    options = {"model": ["m"], "optimizer": ["AdamW", "SGD"]}
    assert [training.subdir for training in plan(*arguments, group_options=lambda g: options.get(g, []))] == subdirs


def test_fingerprint_follows_what_the_job_computes_not_how_it_is_named():
    base = fingerprint(compose("model=test_resnet"))
    assert fingerprint(compose("model=test_resnet")) == base
    assert fingerprint(compose("model=test_resnet", "logger.mode=disabled", "trainer.progress_bar=false")) == base
    assert fingerprint(compose("model=test_resnet", "category=optimizer")) == base, "the base, whichever row asks"
    assert fingerprint(compose("model=test_resnet", "optimizer=AdamW", "category=optimizer")) == base
    assert fingerprint(compose("model=test_resnet", "optimizer.lr=0.002")) != base
    assert fingerprint(compose("model=test_resnet", "seed=1")) != base


def test_identical_configs_merge_into_one_training():
    first = Training(("optimizer=A",), (Row("m", "optimizer", "A"),))
    second = Training(("optimizer=B",), (Row("m", "optimizer", "B"),))
    merged, fingerprints = merge_identical([first, second, first], ["f1", "f1", "f2"])
    assert fingerprints == ["f1", "f2"]
    assert [(row.category, row.option) for row in merged[0].rows] == [("optimizer", "A"), ("optimizer", "B")]


def test_directories_are_found_by_fingerprint_not_by_name(tmp_path):
    (tmp_path / "renamed").mkdir()
    (tmp_path / "renamed" / "job.json").write_text(json.dumps({"fingerprint": "aaaa1111"}))
    (tmp_path / "m/optimizer/SGD").mkdir(parents=True)
    (tmp_path / "m/optimizer/SGD/job.json").write_text(json.dumps({"fingerprint": "bbbb2222"}))
    (tmp_path / "foreign/0").mkdir(parents=True)  # an app that writes no job.json: the manifest recorded it
    chosen = assign_directories(tmp_path, [("aaaa1111", "m/optimizer/AdamW"),  # ran before, elsewhere
                                           ("cccc3333", "m/optimizer/SGD"),    # SGD edited since: a new job
                                           ("dddd4444", "m/optimizer/Lion"),
                                           ("eeee5555", "1")], recorded={"eeee5555": "foreign/0"})
    assert chosen == [tmp_path / "renamed", tmp_path / "m/optimizer/SGD-cccc3333", tmp_path / "m/optimizer/Lion",
                      tmp_path / "foreign/0"]


def test_where_no_seed_is_swept_the_base_trains_control_seeds_beside_its_own():
    def planned(*arguments):
        overrides = OverridesParser.create().parse_overrides(list(arguments))
        return plan_jobs(overrides, PlanRequest(real_group_options, SEED_CATEGORIES, DEFAULT_CHOICES,
                                                control_seeds=3, control_key="seed", control_base=42))

    trainings = planned("model=test_resnet", "category=optimizer")
    controls = [training for training in trainings if training.control]
    assert [training.replicate for training in controls] == [("seed=43",), ("seed=44",), ("seed=45",)]
    assert all(training.is_base and training.overrides[-1] == training.replicate[0] for training in controls)
    assert len(trainings) == 1 + 3 + 1, "the base, its 3 control seeds, SGD"
    fixed = [training.overrides for training in planned("model=test_resnet", "category=optimizer", "seed=7")
             if training.control]
    assert [overrides[-1] for overrides in fixed] == ["seed=8", "seed=9", "seed=10"] and \
        not any("seed=7" in overrides for overrides in fixed), "a fixed seed is the one they follow, not kept"
    assert not any(training.control for training in planned("model=test_resnet", "category=optimizer",
                                                             "seed=1,2")), "seeds swept: no control seeds"
