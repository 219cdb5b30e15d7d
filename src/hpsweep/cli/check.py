"""``hpsweep check``: compose and validate one experiment; print its names and resolved config, or every problem."""

from datetime import datetime
from pathlib import Path

from hydra.errors import HydraException
from omegaconf import OmegaConf

from hpsweep.core import naming
from hpsweep.core.compose import compose_config, group_files, missing_option
from hpsweep.core.display import say_error
from hpsweep.core.errors import ConfigError
from hpsweep.core.fingerprints import task_config
from hpsweep.train.checks import validate


def run(args, parser) -> int:
    return check(args.config_dir, args.overrides)


def check(config_dir: Path, overrides: list[str]) -> int:
    """Compose and validate one experiment; print its names and resolved config, or every problem."""
    try:
        cfg = compose_config(config_dir, overrides)
        validate(cfg)
    except (HydraException, ConfigError) as error:
        say_error(missing_option(str(error), lambda group: group_files(config_dir, group)) or str(error))
        return 1
    choices = dict(cfg.hydra.runtime.choices)
    name = naming.run_name(cfg, choices, naming.overridden_groups(overrides), datetime.now())
    project = naming.wandb_project(cfg)
    task = task_config(cfg)
    print(OmegaConf.to_yaml(task, resolve=True))
    print(f"model: {cfg.model.name}\nW&B project: {project}\nrun name: {name}")
    return 0
