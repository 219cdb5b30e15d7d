"""The job plan of a category sweep, from tables: the union over categories, not the product."""

import json

import pytest
from conftest import CONF_DIR, compose
from hydra.core.override_parser.overrides_parser import OverridesParser

from hpsweep.errors import ConfigError
from hpsweep.sweep.plan import Job, assign_directories, fingerprint, job_subdir, plan_jobs

SEED_MODELS = ",".join(["efficientnet_b4.ra2_in1k", "efficientnet_b3.ra2_in1k", "resnet50.tv2_in1k",
                        "swin_base_patch4_window12_384.ms_in1k"])
DEFAULT_GROUPS = {"model", "data", "trainer", "logger", "optimizer", "scheduler", "loss_function", "image_size",
                  "batch_size", "early_stopping"}
SEED_CATEGORIES = ["optimizer", "scheduler", "loss_function", "image_size", "batch_size", "early_stopping"]


def real_group_options(group: str) -> list[str]:
    """The options a group has in the project's conf/, as Hydra's config loader lists them."""
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml")) if (CONF_DIR / group).is_dir() else []


def plan(*arguments: str, group_options=real_group_options):
    overrides = OverridesParser.create().parse_overrides(list(arguments))
    return plan_jobs(overrides, group_options, SEED_CATEGORIES, default_groups=DEFAULT_GROUPS)


@pytest.mark.parametrize(("arguments", "count"), [
    ((f"model={SEED_MODELS}", "category=all"), 68),                        # the seed's whole matrix
    ((f"model={SEED_MODELS}", f"category={','.join(SEED_CATEGORIES)}"), 68),
    (("model=test_resnet", "category=optimizer,loss_function"), 2 + 3),    # union, not 2 x 3
    (("model=test_resnet,test_efficientnet", "category=optimizer,loss_function"), 2 * (2 + 3)),
    (("model=test_resnet", "category=optimizer", "seed=1,2,3"), 2 * 3),     # other sweeps multiply
    (("model=test_resnet", "category=optimizer", "seed=1,2", "trainer.max_epochs=5,10"), 2 * 2 * 2),
    (("category=early_stopping",), 3),                                      # the base model
    (("model=glob(test_*)", "category=optimizer"), 2 * 2),
    (("model=test_resnet", "category=glob(*_size)"), 4 + 3),
    (("model=test_resnet,resnet18", "optimizer=SGD,AdamW"), 2 * 2),         # no category: the BasicSweeper
    (("model=test_resnet",), 1),
], ids=["seed_all", "seed_listed", "union", "two_models", "seeds", "two_sweeps", "base_model", "model_glob",
        "category_glob", "basic_product", "single"])
def test_job_counts(arguments, count):
    assert len(plan(*arguments)) == count


def test_each_job_sets_exactly_one_category_option_around_the_base():
    jobs = plan("model=test_resnet", "category=optimizer,loss_function", "trainer.max_epochs=3")
    assert [(job.category, job.option) for job in jobs] == [
        ("optimizer", "AdamW"), ("optimizer", "SGD"),
        ("loss_function", "CrossEntropy"), ("loss_function", "Focal"), ("loss_function", "LabelSmoothing")]
    assert jobs[1].overrides == ("model=test_resnet", "category=optimizer", "optimizer=SGD", "trainer.max_epochs=3")


def test_a_fixed_override_of_the_swept_category_gives_way_to_each_option():
    jobs = plan("model=test_resnet", "category=optimizer,loss_function", "optimizer=SGD")
    assert [job.overrides for job in jobs if job.category == "optimizer"] == [
        ("model=test_resnet", "category=optimizer", "optimizer=AdamW"),
        ("model=test_resnet", "category=optimizer", "optimizer=SGD")]
    assert all("optimizer=SGD" in job.overrides for job in jobs if job.category == "loss_function")


def test_a_new_category_folder_is_sweepable_by_name():
    options = {"model": ["m"], "warmup": ["linear5", "none"]}
    jobs = plan("model=m", "category=warmup", group_options=lambda group: options.get(group, []))
    assert [job.option for job in jobs] == ["linear5", "none"]
    assert jobs[0].overrides == ("model=m", "category=warmup", "+warmup=linear5"), "not in the defaults: added"


def test_unknown_categories_and_models_are_reported_together():
    with pytest.raises(ConfigError) as raised:
        plan("model=test_resnet,nope", "category=optimizer,optimiser")
    message = str(raised.value)
    assert "category='optimiser': no config group" in message and "categories: optimizer, scheduler" in message
    assert "model='nope': no conf/model/nope.yaml; models: " in message and "test_resnet" in message


@pytest.mark.parametrize(("job", "subdir"), [
    (Job(("model=m", "category=optimizer", "optimizer=SGD"), "m", "optimizer", "SGD"), "resnet50.a1/optimizer/SGD"),
    (Job(("category=optimizer", "optimizer=SGD", "seed=2"), None, "optimizer", "SGD", ("seed=2",)),
     "resnet50.a1/optimizer/SGD/seed-2"),
    (Job(("a=1", "b=x/y"), swept=("a=1", "b=x/y")), "a-1_b-x_y"),
    (Job(()), "base"),
])
def test_job_directories_are_readable(job, subdir):
    assert job_subdir(job, "resnet50.a1") == subdir


def test_fingerprint_follows_what_the_job_computes():
    base = fingerprint(compose("model=test_resnet"))
    assert fingerprint(compose("model=test_resnet")) == base
    assert fingerprint(compose("model=test_resnet", "logger.mode=disabled", "trainer.progress_bar=false")) == base
    assert fingerprint(compose("model=test_resnet", "optimizer.lr=0.002")) != base
    assert fingerprint(compose("model=test_resnet", "category=optimizer")) != base


def test_directories_are_found_by_fingerprint_not_by_name(tmp_path):
    (tmp_path / "renamed").mkdir()
    (tmp_path / "renamed" / "job.json").write_text(json.dumps({"fingerprint": "aaaa1111"}))
    (tmp_path / "m/optimizer/SGD").mkdir(parents=True)
    (tmp_path / "m/optimizer/SGD/job.json").write_text(json.dumps({"fingerprint": "bbbb2222"}))
    chosen = assign_directories(tmp_path, [("aaaa1111", "m/optimizer/AdamW"),  # ran before, elsewhere
                                           ("cccc3333", "m/optimizer/SGD"),    # SGD edited since: a new job
                                           ("dddd4444", "m/optimizer/Lion")])
    assert chosen == [tmp_path / "renamed", tmp_path / "m/optimizer/SGD-cccc3333", tmp_path / "m/optimizer/Lion"]
