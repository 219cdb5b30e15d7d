"""A small Hydra app that is not hpsweep's: its own config, groups and return value. The tests sweep it with
hpsweep's category sweeper, as any Hydra user would (``hydra/sweeper=category``)."""

import json
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

OmegaConf.register_new_resolver("twice", lambda value: 2 * value)  # a custom resolver the config uses


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    started = time.time()
    if cfg.recipe.get("broken"):
        raise ValueError(f"recipe {cfg.recipe.name} cannot be cooked")
    time.sleep(cfg.work.seconds)
    Path(HydraConfig.get().runtime.output_dir, "times.json").write_text(json.dumps({
        "started": started, "ended": time.time(), "pid": __import__("os").getpid()}))
    return cfg.recipe.taste + cfg.salt * 0.001 + cfg.doubled


if __name__ == "__main__":
    main()
