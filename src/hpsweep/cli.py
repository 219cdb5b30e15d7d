"""The ``hpsweep`` command: look at what a configuration will do before spending compute on it.

    hpsweep check model=resnet50.tv2_in1k optimizer=SGD
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from hpsweep import naming
from hpsweep.errors import ConfigError


def compose_config(config_dir: Path, overrides: list[str]):
    """The config ``run_experiments.py`` would run with these overrides, Hydra's own node included."""
    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def check(config_dir: Path, overrides: list[str]) -> int:
    """Compose and validate one experiment; print its names and resolved config, or every problem."""
    from hpsweep.validation import validate

    try:
        cfg = compose_config(config_dir, overrides)
        validate(cfg)
    except (HydraException, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    choices = dict(cfg.hydra.runtime.choices)
    name = naming.run_name(cfg, choices, naming.overridden_groups(overrides), datetime.now())
    project = cfg.logger.project or naming.project_name(cfg.model.name)
    task = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    print(OmegaConf.to_yaml(task, resolve=True))
    print(f"model: {cfg.model.name}\nW&B project: {project}\nrun name: {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hpsweep", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=Path("conf"),
                        help="the Hydra config directory (default: ./conf)")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="compose and validate a config without training")
    check_parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for run_experiments.py")
    args = parser.parse_args(argv)
    if not args.config_dir.is_dir():
        parser.error(f"--config-dir {args.config_dir}: no such directory (run from the project root)")
    return check(args.config_dir, args.overrides)


if __name__ == "__main__":
    sys.exit(main())
