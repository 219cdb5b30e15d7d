"""Train one composed experiment, or a sweep of them with ``-m``.

    python run_experiments.py model=test_resnet data.image_size=32 trainer.max_epochs=2
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from hpsweep.train.job import run  # torch and timm load here, after Hydra has parsed the command line

    return run(cfg)[cfg.early_stopping.monitor]  # the value any Hydra sweeper can optimise


if __name__ == "__main__":
    main()
