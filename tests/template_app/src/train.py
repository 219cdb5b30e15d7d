"""A small Hydra project shaped like lightning-hydra-template (configs per concern, ``paths`` from
``${hydra:runtime.output_dir}``, experiments, an optional local config, its own job logging, a structured config
group from the ConfigStore, an ``optimized_metric`` returned as Optional[float]); its 'training' is numpy."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # what rootutils.setup_root does in the template: src.* imports, PROJECT_ROOT
os.environ.setdefault("PROJECT_ROOT", str(ROOT))

from src.learn import fit  # noqa: E402


@dataclass
class Schedule:
    """A learning-rate schedule, declared as structured configs in the ConfigStore (no YAML file)."""

    kind: str = "constant"
    gamma: float = 1.0

    def factor(self, epoch: int) -> float:
        return self.gamma ** epoch


ConfigStore.instance().store(group="schedule", name="constant", node=Schedule())
ConfigStore.instance().store(group="schedule", name="decay", node=Schedule(kind="decay", gamma=0.7))
OmegaConf.register_new_resolver("half_of", lambda value: max(1, value // 2))


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    output_dir = Path(cfg.paths.output_dir)
    optimizer = hydra.utils.instantiate(cfg.model.optimizer)
    schedule = Schedule(**cfg.schedule)
    metrics = fit(cfg, optimizer, schedule, Path(cfg.callbacks.model_checkpoint.dirpath), output_dir)
    (output_dir / "run.yaml").write_text(OmegaConf.to_yaml({"cwd": os.getcwd(), "tags": list(cfg.tags),
                                                            "output_dir": HydraConfig.get().runtime.output_dir}))
    # the value a sweeper optimises: the configured metric, or None (nothing to optimise)
    return metrics[cfg.optimized_metric] if cfg.get("optimized_metric") else None


if __name__ == "__main__":
    main()
