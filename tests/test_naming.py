from datetime import datetime

import pytest
from conftest import compose

from hpsweep.core.fingerprints import fingerprint, task_config
from hpsweep.core.naming import name_part, overridden_groups, project_name, run_name, without_run_names
from hpsweep.train.recipe import build_optimizer

NOW = datetime(2026, 11, 27, 17, 5)


@pytest.fixture(scope="module")
def tiny_model():
    import timm

    return timm.create_model("test_resnet", num_classes=10)


@pytest.mark.parametrize(("model", "project"), [
    ("resnet50.tv2_in1k", "resnet50_tv2_in1k"),
    ("efficientnet_b4.ra2_in1k", "efficientnet_b4_ra2_in1k"),
    ("swin_base_patch4_window12_384.ms_in1k", "swin_base_patch4_window12_384_ms_in1k"),
    ("hf-hub:timm/vit-base/x", "hf_hub_timm_vit_base_x"),
    ("test_resnet", "test_resnet"),
])
def test_project_name_is_the_model_name_made_wandb_safe(model, project):
    assert project_name(model) == project


# The seed's run-name patterns, one per category option.
SEED_NAMES = [
    ("optimizer", "AdamW", "opt_AdamW_lr0.001_wd0.001"),
    ("optimizer", "SGD", "opt_SGD_lr0.01_m0.9_wd0.0001"),
    ("scheduler", "CosineAnnealingLR", "sch_CosineAnnealingLR"),  # T_max follows trainer.max_epochs (issue 41)
    ("scheduler", "OneCycleLR", "sch_OneCycleLR_maxlr0.01"),
    ("loss_function", "CrossEntropy", "loss_CrossEntropyLoss"),
    ("loss_function", "Focal", "loss_FocalLoss_alpha2.0_gamma1.0"),
    ("loss_function", "LabelSmoothing", "loss_LabelSmoothingLoss_smoothing0.1"),
    ("image_size", "img320_batch64", "img320_batch64"),
    ("image_size", "img512_batch16", "img512_batch16"),
    ("batch_size", "batch32_mp", "batch32_MP"),
    ("batch_size", "batch64", "batch64"),
    ("early_stopping", "patience5", "es_patience5"),
]


@pytest.mark.parametrize(("category", "option", "expected"), SEED_NAMES, ids=[o for _, o, _ in SEED_NAMES])
def test_category_run_names_follow_the_seed(category, option, expected):
    cfg = compose(f"{category}={option}", f"category={category}")
    assert run_name(cfg, dict(cfg.hydra.runtime.choices), [], NOW) == f"{expected}_2611271705"


def test_run_name_follows_values_that_took_effect():
    cfg = compose("optimizer=SGD", "optimizer.lr=0.05", "category=optimizer")
    assert run_name(cfg, dict(cfg.hydra.runtime.choices), [], NOW).startswith("opt_SGD_lr0.05_m0.9")


def test_plain_run_is_named_after_the_categories_it_overrides():
    overrides = ["model=test_resnet", "optimizer=SGD", "early_stopping.patience=3"]
    cfg = compose(*overrides)
    name = run_name(cfg, dict(cfg.hydra.runtime.choices), overridden_groups(overrides), NOW)
    assert name == "opt_SGD_lr0.01_m0.9_wd0.0001_es_patience3_2611271705"
    assert run_name(compose(), {}, [], NOW) == "base_2611271705"


def test_a_plain_runs_name_parts_follow_the_defaults_list_whichever_file_names_them():
    # optimizer and early_stopping name themselves in their own group; image_size, a _global_ file, in run_name_parts
    overrides = ["early_stopping=patience5", "image_size=img224_batch64", "optimizer=SGD"]
    cfg = compose(*overrides)
    assert run_name(cfg, dict(cfg.hydra.runtime.choices), overridden_groups(overrides), NOW) == \
        "opt_SGD_lr0.01_m0.9_wd0.0001_img224_batch64_es_patience5_2611271705"


def test_a_run_name_pattern_is_no_argument_and_no_part_of_the_fingerprint(tiny_model):
    cfg = compose("optimizer=SGD", "early_stopping=patience5")
    trained = without_run_names(cfg)
    assert "_run_name_" in cfg.optimizer and "_run_name_" not in str(trained)
    assert type(build_optimizer(trained.optimizer, tiny_model)).__name__ == "SGD"
    assert fingerprint(task_config(cfg)) == fingerprint(task_config(trained))


def test_an_experiment_run_is_named_after_its_experiment():
    cfg = compose("optimizer=SGD")
    choices = {**cfg.hydra.runtime.choices, "experiment": "best_resnet50_tv2_in1k"}
    assert run_name(cfg, choices, ["experiment", "optimizer"], NOW) == \
        "best_resnet50_tv2_in1k_opt_SGD_lr0.01_m0.9_wd0.0001_2611271705"


def test_a_category_without_a_name_part_falls_back_to_category_and_option():
    cfg = compose("category=warmup")
    assert run_name(cfg, {"warmup": "linear5"}, [], NOW) == "warmup_linear5_2611271705"


def test_run_names_do_not_state_a_learning_rate_the_scheduler_overrides():
    cfg = compose("optimizer=SGD", "scheduler=OneCycleLR")
    assert name_part(cfg, "optimizer", "SGD") == "opt_SGD_lr0.01peak_m0.9_wd0.0001", "OneCycleLR's max_lr rules"
    assert name_part(compose("optimizer=SGD"), "optimizer", "SGD") == "opt_SGD_lr0.01_m0.9_wd0.0001"
