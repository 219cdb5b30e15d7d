"""Names users see: the W&B project of a model and the run name of a category option.

Each category option file gives its runs a name pattern from its own values by OmegaConf interpolation
(``opt_AdamW_lr${optimizer.lr}_wd${optimizer.weight_decay}``), so names follow the values that took effect, and a
new category gets names without code. A file that sets only its own group writes it there, as ``_run_name_``
(``optimizer._run_name_``); a file of ``@package _global_`` (it sets other groups' keys: an image size sets the
batch size) writes it as ``run_name_parts.<category>``.
"""

import copy
import re
from datetime import datetime

from omegaconf import DictConfig, OmegaConf, open_dict

from hpsweep.core import hydra_private

_NOT_IN_PROJECT_NAMES = re.compile(r"[^A-Za-z0-9_]")
# In a group's node, its option's run-name pattern: a key for hpsweep, not an argument (Hydra's _key_ style), taken
# out of the config the training reads (``without_run_names``) and out of fingerprints
RUN_NAME = "_run_name_"


def name_pattern(cfg: DictConfig, category: str | None, resolve: bool = True) -> str | None:
    """The category's run-name pattern: ``<group>._run_name_``, else ``run_name_parts.<category>``; resolved (the
    values that took effect) or as written; None where its option gives none (and for no category: the base)."""
    if category is None:
        return None
    for node, key in ((cfg.get(category), RUN_NAME), (cfg.get("run_name_parts"), category)):
        if isinstance(node, DictConfig) and key in node:
            return str(node[key] if resolve else OmegaConf.to_container(node)[key])
    return None


def named_categories(cfg: DictConfig, choices: dict[str, str]) -> list[str]:
    """The categories whose options give their runs a name pattern, in the order their options merge (``choices``:
    Hydra's runtime choices; a category that is no group of them last)."""
    named = dict.fromkeys([*map(str, cfg.get("run_name_parts") or {}), *_named_groups(cfg)])
    order = {group: rank for rank, group in enumerate(hydra_private.defaults_order(choices))}
    return sorted(named, key=lambda category: order.get(category, len(order)))


def without_run_names(cfg: DictConfig) -> DictConfig:
    """``cfg`` without its groups' ``_run_name_`` patterns: what a training reads (an optimizer's node is its
    factory's arguments, a user's own trainer gets no key it does not know)."""
    groups = _named_groups(cfg)
    if not groups:
        return cfg
    trimmed = copy.deepcopy(cfg)
    with open_dict(trimmed):
        for group in groups:
            del trimmed[group][RUN_NAME]
    return trimmed


def _named_groups(cfg: DictConfig) -> list[str]:
    return [str(group) for group, node in cfg.items_ex(resolve=False)
            if group != "hydra" and isinstance(node, DictConfig) and RUN_NAME in node]


def project_name(model_name: str) -> str:
    """The W&B project of a model: its timm name with every character W&B may reject made ``_``.

    >>> project_name("resnet50.tv2_in1k")
    'resnet50_tv2_in1k'
    """
    return _NOT_IN_PROJECT_NAMES.sub("_", model_name)


def wandb_project(cfg: DictConfig) -> str:
    """The run's W&B project: ``logger.project``, else the model's project."""
    return cfg.logger.project or project_name(cfg.model.name)


def name_part(cfg: DictConfig, category: str, option: str) -> str:
    """The option's own name part, or ``<category>_<option>`` for a category that defines none."""
    pattern = name_pattern(cfg, category)
    return honest_lr(cfg, pattern if pattern is not None else f"{category}_{option}")


def honest_lr(cfg: DictConfig, part: str) -> str:
    """A scheduler that sets the learning rate itself (OneCycleLR's ``max_lr``) overrides the optimizer's: a
    name part saying ``lr<the optimizer's>`` says the peak that took effect instead (``lr0.01peak``)."""
    max_lr, lr = OmegaConf.select(cfg, "scheduler.lr_scheduler.max_lr"), OmegaConf.select(cfg, "optimizer.lr")
    if max_lr is None or lr is None:
        return part
    return re.sub(rf"(?<!max)lr{re.escape(str(lr))}(?![0-9.e-])", f"lr{max_lr}peak", part)


def run_name(cfg: DictConfig, choices: dict[str, str], overridden: list[str], now: datetime,
             replicate: dict[str, str] | None = None) -> str:
    """The run's name: its label, its replicate (``seed2``, ``fold3``) and a ``%y%m%d%H%M`` stamp
    (``opt_AdamW_lr0.001_wd0.001_seed2_2611271705``)."""
    parts = [run_label(cfg, choices, overridden)]
    named = set(named_categories(cfg, choices)) & set(overridden)  # a replicate category names itself (fold0of5)
    parts += [replicate_part(key, value) for key, value in (replicate or {}).items() if key not in named]
    return f"{'_'.join(parts)}_{now:%y%m%d%H%M}"


def replicate_part(key: str, value: str) -> str:
    """``seed``, ``2`` -> ``seed2``; ``fold``, ``fold3`` -> ``fold3``; ``data.fold``, ``3`` -> ``fold3``."""
    name = key.rsplit(".", 1)[-1]
    return value if value.startswith(name) else f"{name}{value}"


def run_label(cfg: DictConfig, choices: dict[str, str], overridden: list[str]) -> str:
    """The varied category's name part. A plain run (no ``category``) is named after its experiment
    config if any (``+experiment=best_resnet50``), then the categories its overrides touched
    (``optimizer=SGD`` -> ``opt_SGD_...``), or ``base`` when it trains the base combination.
    """
    if cfg.get("category"):
        return name_part(cfg, cfg.category, str(choices.get(cfg.category)))
    parts = named_categories(cfg, choices)
    labels = [str(choices["experiment"])] if choices.get("experiment") else []
    labels += [name_part(cfg, category, str(choices.get(category))) for category in parts if category in overridden]
    return "_".join(labels) or "base"


def overridden_groups(task_overrides: list[str]) -> list[str]:
    """The top-level config keys a list of Hydra overrides touches (``+optimizer.lr=1`` -> ``optimizer``)."""
    return [override.lstrip("+~").split("=", 1)[0].split(".", 1)[0] for override in task_overrides]
