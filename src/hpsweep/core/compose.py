"""Composing configs outside ``@hydra.main`` (for the CLI, tests and benchmarks), and naming a mistyped option
the way hpsweep names every bad input: with the closest names, before Hydra composes."""

import re
from collections.abc import Callable
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from hpsweep.core.errors import unknown_option

HYDRA_MISSING = re.compile(r"Could not find '([^']+)/([^'/]+)'")  # Hydra's message for an option with no file
OWN_CONFIG_FLAGS = ("--config-path", "--config-dir", "--config-name", "-cp", "-cd", "-cn", "hydra.searchpath")


def missing_option(message: str, group_options: Callable[[str], list[str]]) -> str | None:
    """Hydra's "Could not find 'model/test_resnt'" as hpsweep says it (the closest names); None for another
    message."""
    found = HYDRA_MISSING.search(message)
    return unknown_option(found[1], found[2], group_options(found[1])) if found else None


def group_files(config_dir: Path, group: str) -> list[str]:
    """The options of a config group: its folder's YAML files, by name."""
    return sorted(path.stem for path in (Path(config_dir) / group).glob("*.yaml"))


def unknown_choices(config_dir: Path, arguments: list[str], sweeps: bool = True) -> list[str]:
    """Every ``group=option`` on a command line whose group is a folder of ``config_dir`` without that option's
    file (``sweeps=False``: only options that are not swept). Nothing where the command line points Hydra at
    other configs, or does not parse (Hydra says why)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    if any(argument.startswith(OWN_CONFIG_FLAGS) for argument in arguments):
        return []
    try:
        overrides = OverridesParser.create().parse_overrides([a for a in arguments if not a.startswith("-")])
    except HydraException:
        return []
    problems = []
    for override in overrides:
        group = override.get_key_element().lstrip("+")
        if override.is_delete() or group.startswith("hydra") or not (Path(config_dir) / group).is_dir() or (
                override.is_sweep_override() and not sweeps):
            continue
        value = override.value()
        names = [str(item) for item in value.list] if isinstance(value, ChoiceSweep) else \
            [] if override.is_sweep_override() else [override.get_value_element_as_str()]
        options = group_files(config_dir, group)
        problems += [unknown_option(group, name, options) for name in names if name not in (*options, "null")]
    return problems


def compose_config(config_dir: Path, overrides: list[str]) -> DictConfig:
    """The config ``run_experiments.py`` would run with these overrides, Hydra's own node included."""
    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def compose_job(config_dir: Path, overrides: list[str], output_dir: Path) -> DictConfig:
    """A job's task config, with Hydra's runtime state set as ``@hydra.main`` sets it, so that
    ``hpsweep.train.run(cfg)`` runs in this process. Clear it with ``HydraConfig.instance().cfg = None``."""
    cfg = compose_config(config_dir, overrides)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg


# The top-level keys of hpsweep's own config: where they all are, its checks and trainer apply
HPSWEEP_KEYS = ("model", "data", "trainer", "logger", "optimizer", "scheduler", "loss_function", "early_stopping")


def is_hpsweep_config(cfg: DictConfig) -> bool:
    """Whether ``cfg`` follows hpsweep's schema (and not another Hydra app's)."""
    return all(key in cfg for key in HPSWEEP_KEYS) and OmegaConf.select(cfg, "model.name") is not None
