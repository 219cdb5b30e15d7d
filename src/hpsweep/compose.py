"""Composing configs outside ``@hydra.main``: for the CLI, tests and benchmarks."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict


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
