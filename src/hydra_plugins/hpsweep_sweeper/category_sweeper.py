"""A Hydra Sweeper for category sweeps: Hydra's interface to hpsweep's driver (``hpsweep.sweep.driver``).

hpsweep's own config selects it (``override hydra/sweeper: category``); another app selects it with
``hydra/sweeper=category``. Jobs go to whatever Hydra launcher is configured (basic, submitit_local,
submitit_slurm). Without ``category=`` it sweeps exactly as Hydra's BasicSweeper would.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hpsweep.core.display import say_error
from hpsweep.core.errors import ConfigError, SweepFailedError
from hpsweep.core.records import owning
from hpsweep.sweep.settings import SweepSettings


@dataclass
class CategorySweeperConf(SweepSettings):
    """``hydra.sweeper``: the sweep's settings (each with its valid values in ``hpsweep.sweep.settings``)."""

    _target_: str = "hydra_plugins.hpsweep_sweeper.category_sweeper.CategorySweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="category", node=CategorySweeperConf, provider="hpsweep")


class CategorySweeper(Sweeper):
    def __init__(self, **settings):  # Hydra instantiates it with the fields of CategorySweeperConf, checked by them
        self.settings = SweepSettings(**{key: OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
                                         for key, value in settings.items()})  # lists arrive as ListConfig
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher = None
        self.gpu_memory_gb = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        # hpsweep's launcher presets declare the GPUs' memory for the fit check: taken out before submitit sees it
        self.gpu_memory_gb = getattr(self.launcher, "params", {}).pop("gpu_memory_gb", None)

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        """The driver's sweep; bad input or a failed job ends the process non-zero, said in one line."""
        # Hydra imports every plugin module whenever any app starts (each job too): the driver and all it imports
        # load only when this sweeper sweeps, as Hydra's own Optuna sweeper imports its _impl
        from hpsweep.sweep.driver import Driver

        driver = Driver(self.settings, self.config, self.hydra_context.config_loader, self.launcher,
                        self.gpu_memory_gb)
        try:
            with owning(Path(self.config.hydra.sweep.dir)):  # the driver sets aside what it cannot read there
                return driver.run(arguments)
        except (ConfigError, SweepFailedError) as error:  # said plainly, without a stack trace
            say_error(str(error))
            sys.exit(1)
        finally:
            driver.close()
