"""Train one composed experiment, or a sweep of them with ``-m``.

    python run_experiments.py model=test_resnet data.image_size=32 trainer.max_epochs=2
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from hpsweep.errors import UserError
    from hpsweep.train.job import run  # torch and timm load here, after Hydra has parsed the command line

    try:
        return run(cfg)[cfg.early_stopping.monitor]  # the value any Hydra sweeper can optimise
    except UserError:
        if HydraConfig.get().mode == RunMode.RUN:
            sys.exit(1)  # the job's log said why, once; a sweep records it as the job's failure instead
        raise


if __name__ == "__main__":
    main()
